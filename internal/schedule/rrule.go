package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/warden-orchestration/warden/apitype"
)

// defaultRRuleStart is Prefect's implicit DTSTART when the rule has none.
var defaultRRuleStart = [6]int{2020, 1, 1, 0, 0, 0}

// relabel keeps t's wall-clock reading but puts it in loc, as Prefect's
// to_rrule does with tzinfo=timezone (the rule's own zone is discarded).
func relabel(t time.Time, loc *time.Location) time.Time {
	return localize(wallOf(t), loc)
}

// parseRRule parses an RFC 5545 rule set (DTSTART, one RRULE, RDATE, EXDATE)
// and pins DTSTART and UNTIL to the schedule's zone. rrule-go handles one
// RRULE per set and no EXRULE.
func parseRRule(s string, loc *time.Location) (*rrule.Set, error) {
	invalid := func(err error) error {
		return &ValidationError{Loc: []string{"rrule"}, Input: s,
			Msg: fmt.Sprintf(`Invalid RRule string "%s": %v`, s, err)}
	}
	lines := strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) == 0 {
		return nil, invalid(fmt.Errorf("empty string"))
	}
	hasRule := false
	for i, l := range lines {
		l = strings.TrimSpace(l)
		lines[i] = l
		upper := strings.ToUpper(l)
		switch {
		case strings.HasPrefix(upper, "DTSTART"), strings.HasPrefix(upper, "RDATE"), strings.HasPrefix(upper, "EXDATE"):
		case strings.HasPrefix(upper, "RRULE:"):
			hasRule = true
		case !strings.Contains(l, ":") && strings.Contains(upper, "FREQ="):
			// dateutil accepts a bare "FREQ=...;..." line as the RRULE.
			lines[i] = "RRULE:" + l
			hasRule = true
		default:
			return nil, invalid(fmt.Errorf("unsupported property: %s", l))
		}
	}
	set, err := rrule.StrSliceToRRuleSetInLoc(lines, loc)
	if err == nil && !hasRule && len(set.GetRDate()) == 0 {
		err = fmt.Errorf("no RRULE or RDATE")
	}
	if err != nil {
		return nil, invalid(err)
	}
	if len(s) > MaxRRuleLength {
		return nil, &ValidationError{Loc: []string{"rrule"}, Input: s,
			Msg: fmt.Sprintf("Invalid RRule string \"%s...\"\nMax length is %d, got %d", s[:40], MaxRRuleLength, len(s))}
	}
	dt := set.GetDTStart()
	if dt.IsZero() {
		d := defaultRRuleStart
		dt = time.Date(d[0], time.Month(d[1]), d[2], d[3], d[4], d[5], 0, time.UTC)
	}
	set.DTStart(relabel(dt, loc))
	if r := set.GetRRule(); r != nil && r.OrigOptions.Until != (time.Time{}) {
		r.Until(relabel(r.OrigOptions.Until, loc))
	}
	return set, nil
}

func rruleDates(r apitype.RRuleSchedule, n int, start, end time.Time) ([]time.Time, error) {
	loc, err := Location(r.Timezone)
	if err != nil {
		return nil, err
	}
	set, err := parseRRule(r.RRule, loc)
	if err != nil {
		return nil, err
	}
	// Like dateutil's xafter, occurrences before start are walked through but
	// not counted; only those on or after start spend the iteration budget.
	next := set.Iterator()
	seen := map[int64]bool{}
	var out []time.Time
	counter := 0
	for t, ok := next(); ok; t, ok = next() {
		if t.Before(start) {
			continue
		}
		t = t.In(loc)
		if !end.IsZero() && t.After(end) {
			break
		}
		if !seen[t.UnixNano()] {
			seen[t.UnixNano()] = true
			out = append(out, t)
		}
		if len(out) >= n || counter > MaxIterations {
			break
		}
		counter++
	}
	return out, nil
}
