package apitype

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// IntervalSchedule is Prefect's IntervalSchedule: runs every Interval seconds,
// aligned on AnchorDate. Timezone (IANA) decides how DST is handled; Prefect
// infers "UTC" when it is absent because a JSON anchor only carries an offset.
type IntervalSchedule struct {
	Interval   float64   `json:"interval"` // seconds, > 0
	AnchorDate time.Time `json:"anchor_date"`
	Timezone   *string   `json:"timezone"`
}

// CronSchedule is Prefect's CronSchedule. DayOr true (the default) joins the
// day-of-month and day-of-week fields with OR as standard cron does; false
// joins them with AND (fcron style, e.g. "Friday the 13th").
type CronSchedule struct {
	Cron     string  `json:"cron"`
	Timezone *string `json:"timezone"`
	DayOr    bool    `json:"day_or"`
}

// RRuleSchedule is Prefect's RRuleSchedule (RFC 5545 recurrence rule).
type RRuleSchedule struct {
	RRule    string  `json:"rrule"`
	Timezone *string `json:"timezone"`
}

// Schedule is Prefect's schedule union. Exactly one member is set; on the wire
// the member is recognised by its key ("interval", "cron" or "rrule"), and
// unknown keys are rejected as Prefect's models forbid extras.
type Schedule struct {
	Interval *IntervalSchedule
	Cron     *CronSchedule
	RRule    *RRuleSchedule
}

// ErrScheduleShape is returned when a JSON object matches no schedule member.
var ErrScheduleShape = errors.New("schedule must be an interval, cron or rrule schedule")

// MarshalJSON writes the member that is set, or null.
func (s Schedule) MarshalJSON() ([]byte, error) {
	switch {
	case s.Interval != nil:
		return json.Marshal(s.Interval)
	case s.Cron != nil:
		return json.Marshal(s.Cron)
	case s.RRule != nil:
		return json.Marshal(s.RRule)
	}
	return []byte("null"), nil
}

// UnmarshalJSON picks the member by key and applies Prefect's defaults
// (day_or true, rrule timezone "UTC"). The interval anchor, when absent, stays
// zero: the caller fills it with "now" (schedule.Normalize does).
func (s *Schedule) UnmarshalJSON(b []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil || keys == nil {
		return ErrScheduleShape
	}
	has := func(k string) bool { _, ok := keys[k]; return ok }
	var allowed []string
	*s = Schedule{}
	switch {
	case has("interval"):
		allowed = []string{"interval", "anchor_date", "timezone"}
		s.Interval = &IntervalSchedule{}
		// pydantic also takes a timedelta as a duration string ("PT1H").
		var text string
		if json.Unmarshal(keys["interval"], &text) == nil {
			secs, err := parseDurationSeconds(text)
			if err != nil {
				*s = Schedule{}
				return err
			}
			keys["interval"], _ = json.Marshal(secs)
			b, _ = json.Marshal(keys)
		}
	case has("cron"):
		allowed = []string{"cron", "timezone", "day_or"}
		s.Cron = &CronSchedule{DayOr: true}
	case has("rrule"):
		allowed = []string{"rrule", "timezone"}
		utc := "UTC"
		s.RRule = &RRuleSchedule{Timezone: &utc}
	default:
		return ErrScheduleShape
	}
	for k := range keys {
		if !slices.Contains(allowed, k) {
			*s = Schedule{}
			return fmt.Errorf("%w: extra field %q", ErrScheduleShape, k)
		}
	}
	var err error
	switch {
	case s.Interval != nil:
		err = strictDecode(b, s.Interval)
		// An explicit null anchor means "now", like an absent one.
	case s.Cron != nil:
		err = strictDecode(b, s.Cron)
	case s.RRule != nil:
		err = strictDecode(b, s.RRule)
		if err == nil && s.RRule.Timezone == nil {
			utc := "UTC"
			s.RRule.Timezone = &utc
		}
	}
	if err != nil {
		*s = Schedule{}
	}
	return err
}

func strictDecode(b []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}
