package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/warden-orchestration/warden/apitype"
)

// robfig/cron marks a field written as "*" or "?" with this bit; croniter's
// day_or only ORs the two day fields when neither is a wildcard.
const starBit = 1 << 63

// cronSearchYears bounds the search for an impossible expression such as
// "0 0 30 2 *" (croniter gives up similarly) so it yields no dates, not a hang.
const cronSearchYears = 30

// parseCron accepts what Prefect accepts through croniter: five fields with
// names, lists, ranges and steps, or an @yearly/@annually/@monthly/@weekly/
// @daily/@midnight/@hourly macro. robfig/cron parses the fields; evaluation is
// done here because day_or=false and local wall-clock semantics are Prefect's.
func parseCron(expr string) (*cron.SpecSchedule, error) {
	// Random/hashed fields ("H", "R") fail to parse, which is also croniter's
	// verdict ("Invalid cron string"), so Prefect's second message never shows.
	fields := strings.Fields(expr)
	invalid := &ValidationError{Loc: []string{"cron"}, Input: expr, Msg: fmt.Sprintf(`Invalid cron string: "%s"`, expr)}
	// robfig extensions croniter lacks: time-zone prefixes and @every.
	if len(fields) == 0 || strings.Contains(fields[0], "TZ=") || strings.HasPrefix(fields[0], "@every") {
		return nil, invalid
	}
	if len(fields) == 5 && (strings.ContainsAny(fields[2], "lL#") || strings.ContainsAny(fields[4], "lL#")) {
		// croniter's last-day ("L", "5L") and nth-weekday ("5#2") forms
		// are not evaluated yet: say so rather than a bare "invalid".
		invalid.Msg += " (the L and # day extensions are not supported)"
		return nil, invalid
	}
	if len(fields) == 5 {
		// croniter accepts 7 for Sunday in the day-of-week field.
		fields[4] = normalizeSunday(fields[4])
		expr = strings.Join(fields, " ")
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, invalid
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, invalid
	}
	return spec, nil
}

// normalizeSunday maps a lone "7" (and "7" ending a range) to robfig's 0..6.
func normalizeSunday(dow string) string {
	parts := strings.Split(dow, ",")
	for i, p := range parts {
		switch {
		case p == "7":
			parts[i] = "0"
		case strings.HasSuffix(p, "-7") && !strings.Contains(p, "/"):
			parts[i] = strings.TrimSuffix(p, "-7") + "-6,0"
		}
	}
	return strings.Join(parts, ",")
}

func bit(field uint64, v int) bool { return field&(1<<uint(v)) != 0 }

func dayMatches(s *cron.SpecSchedule, dayOr bool, t time.Time) bool {
	dom := bit(s.Dom, t.Day())
	dow := bit(s.Dow, int(t.Weekday()))
	if dayOr && s.Dom&starBit == 0 && s.Dow&starBit == 0 {
		return dom || dow
	}
	return dom && dow
}

// nextWall returns the first wall-clock minute strictly after t (a wall time
// carried in UTC) that matches the expression, or false if none comes soon.
func nextWall(s *cron.SpecSchedule, dayOr bool, t time.Time) (time.Time, bool) {
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(cronSearchYears, 0, 0)
	for t.Before(limit) {
		switch {
		case !bit(s.Month, int(t.Month())):
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !dayMatches(s, dayOr, t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case !bit(s.Hour, t.Hour()):
			t = t.Truncate(time.Hour).Add(time.Hour)
		case !bit(s.Minute, t.Minute()):
			t = t.Add(time.Minute)
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

// cronDates evaluates the expression on the zone's wall clock, localizing each
// match with the compatible rule. Starting just after a spring-forward
// transition, the skipped wall times (which localize after start) are merged
// in; starting inside a fall-back fold, the repeated hour is skipped without
// spending the candidate budget, as Prefect does.
func cronDates(c apitype.CronSchedule, n int, start, end time.Time) ([]time.Time, error) {
	spec, err := parseCron(c.Cron)
	if err != nil {
		return nil, err
	}
	loc, err := Location(c.Timezone)
	if err != nil {
		return nil, err
	}
	start = start.In(loc)
	from := wallOf(start).Add(-time.Second)
	if start.Nanosecond() > 0 {
		from = from.Add(time.Second)
	}

	var lookback []time.Time
	zoneStart, _ := start.Add(time.Second).ZoneBounds()
	if !zoneStart.IsZero() {
		_, offNow := zoneStart.Zone()
		_, offBefore := zoneStart.Add(-time.Second).Zone()
		gap := time.Duration(offNow-offBefore) * time.Second
		since := start.Sub(zoneStart)
		switch {
		case since >= 0 && since < gap: // just after clocks went forward
			gapEnd := wallOf(zoneStart)
			for w, ok := nextWall(spec, c.DayOr, from.Add(-gap)); ok && w.Before(gapEnd); w, ok = nextWall(spec, c.DayOr, w) {
				lookback = append(lookback, localize(w, loc))
			}
		case since >= 0 && since < -gap: // inside the repeated hour
			from = wallOf(zoneStart).Add(-gap).Add(-time.Second)
		}
	}

	seen := map[int64]bool{}
	var out []time.Time
	wall, more := nextWall(spec, c.DayOr, from)
	for range MaxIterations + 2 {
		var next time.Time
		switch {
		case len(lookback) > 0 && (!more || !localize(wall, loc).Before(lookback[0])):
			next, lookback = lookback[0], lookback[1:]
		case more:
			next = localize(wall, loc)
			wall, more = nextWall(spec, c.DayOr, wall)
		default:
			return out, nil
		}
		if !end.IsZero() && next.After(end) {
			break
		}
		if !next.Before(start) && !seen[next.UnixNano()] {
			seen[next.UnixNano()] = true
			out = append(out, next)
		}
		if len(out) >= n {
			break
		}
	}
	return out, nil
}
