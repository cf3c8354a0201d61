// Package schedule computes the run times of Prefect's interval, cron and
// RRule schedules the way Prefect's server does (schemas/schedules.py): the
// same defaults, validation messages, iteration limits and DST rules.
package schedule

import (
	"errors"
	"fmt"
	"slices"
	"time"
	// Embedded zone data so schedule results do not depend on the host's tzdata.
	_ "time/tzdata"

	"github.com/warden-orchestration/warden/apitype"
)

// MaxIterations bounds the candidate dates examined by one Dates call, as
// Prefect's MAX_ITERATIONS does.
const MaxIterations = 1000

// MaxRRuleLength is Prefect's MAX_RRULE_LENGTH.
const MaxRRuleLength = 6500

// ValidationError is one invalid field, ready for a 422 body. Msg is Prefect's
// message without pydantic's "Value error, " prefix.
type ValidationError struct {
	Loc   []string
	Msg   string
	Input any
}

func (e *ValidationError) Error() string { return e.Msg }

// ErrEmpty is returned for a Schedule with no member set.
var ErrEmpty = errors.New("schedule: no schedule set")

// Normalize applies Prefect's defaults in place: an interval's missing anchor
// becomes now (UTC, truncated to microseconds), and its missing timezone is
// inferred as "UTC" (a JSON anchor only carries an offset, never a zone name).
func Normalize(s *apitype.Schedule, now time.Time) {
	if iv := s.Interval; iv != nil {
		if iv.AnchorDate.IsZero() {
			iv.AnchorDate = now.UTC().Truncate(time.Microsecond)
		}
		if iv.Timezone == nil {
			utc := "UTC"
			iv.Timezone = &utc
		}
	}
}

// Validate checks a schedule as Prefect's models do and returns the first
// problem as a *ValidationError (nil when valid).
func Validate(s apitype.Schedule) error {
	switch {
	case s.Interval != nil:
		if !(s.Interval.Interval > 0) {
			return &ValidationError{Loc: []string{"interval"}, Msg: "Input should be a positive timedelta", Input: s.Interval.Interval}
		}
		return validateTimezone(s.Interval.Timezone)
	case s.Cron != nil:
		if _, err := parseCron(s.Cron.Cron); err != nil {
			return err
		}
		return validateTimezone(s.Cron.Timezone)
	case s.RRule != nil:
		if err := validateTimezone(s.RRule.Timezone); err != nil {
			return err
		}
		_, err := parseRRule(s.RRule.RRule, time.UTC)
		return err
	}
	return ErrEmpty
}

// Location resolves a schedule timezone: nil or "" means UTC, as in Prefect.
func Location(tz *string) (*time.Location, error) {
	if tz == nil || *tz == "" || *tz == "UTC" {
		return time.UTC, nil
	}
	if *tz == "Local" { // Go's alias for the host zone is not an IANA name
		return nil, timezoneError(*tz)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return nil, timezoneError(*tz)
	}
	return loc, nil
}

func timezoneError(tz string) error {
	return &ValidationError{Loc: []string{"timezone"}, Input: tz,
		Msg: fmt.Sprintf(`Invalid timezone: "%s" (specify in IANA tzdata format, for example, America/New_York)`, tz)}
}

func validateTimezone(tz *string) error {
	_, err := Location(tz)
	return err
}

// Dates is Prefect's get_dates: up to n dates on or after start and not after
// end (zero end: unbounded), sorted, without duplicates, examining at most
// about MaxIterations candidates. n <= 0 means MaxIterations when end is set,
// else 1; a zero start means now. Results are in the schedule's timezone.
func Dates(s apitype.Schedule, n int, start, end time.Time) ([]time.Time, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	if start.IsZero() {
		start = time.Now()
	}
	if n <= 0 {
		n = 1
		if !end.IsZero() {
			n = MaxIterations
		}
	}
	var out []time.Time
	var err error
	switch {
	case s.Interval != nil:
		out, err = intervalDates(*s.Interval, n, start, end)
	case s.Cron != nil:
		out, err = cronDates(*s.Cron, n, start, end)
	case s.RRule != nil:
		out, err = rruleDates(*s.RRule, n, start, end)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out, nil
}

// localize turns a wall-clock time (carried in a UTC time.Time) into an
// instant in loc with the "compatible" rule Prefect uses: an ambiguous time
// (clocks set back) takes its first occurrence, a skipped time (clocks set
// forward) is moved forward by the length of the gap. time.Date leaves the
// ambiguous case unspecified, so both offsets are tried explicitly.
func localize(wall time.Time, loc *time.Location) time.Time {
	w := wall.Unix()
	_, before := time.Unix(w-86400, 0).In(loc).Zone()
	_, after := time.Unix(w+86400, 0).In(loc).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		t := time.Unix(w-int64(off), int64(wall.Nanosecond())).In(loc)
		if _, o := t.Zone(); o == off && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() { // in a gap: keep the pre-transition offset
		best = time.Unix(w-int64(before), int64(wall.Nanosecond())).In(loc)
	}
	return best
}

// wallOf is the inverse of localize: t's local clock reading as a UTC time.
func wallOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}
