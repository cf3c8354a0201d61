package schedule

import (
	"math"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// addLocal adds whole calendar days on the wall clock of t's zone (keeping the
// local time of day across DST, moving a skipped time forward) and then an
// exact number of seconds, which is how Prefect advances intervals.
func addLocal(t time.Time, days int, secs time.Duration) time.Time {
	if days != 0 {
		t = localize(wallOf(t).AddDate(0, 0, days), t.Location())
	}
	return t.Add(secs)
}

// intervalDates follows Prefect: an interval is split into whole days and the
// remaining seconds. Day-only intervals keep the anchor's wall-clock time in
// the schedule's zone; shorter ones are exact elapsed time.
func intervalDates(iv apitype.IntervalSchedule, n int, start, end time.Time) ([]time.Time, error) {
	loc, err := Location(iv.Timezone)
	if err != nil {
		return nil, err
	}
	total := time.Duration(math.Round(iv.Interval * float64(time.Second)))
	if total <= 0 {
		total = time.Microsecond
	}
	days := int(total / (24 * time.Hour))
	secs := total - time.Duration(days)*24*time.Hour
	anchor := iv.AnchorDate.In(loc)
	start = start.In(loc)

	jump := func(k int) time.Time {
		if days == 0 || secs == 0 {
			return addLocal(anchor, days*k, secs*time.Duration(k))
		}
		return anchor.Add(total * time.Duration(k))
	}

	offset := 0
	var next time.Time
	if !start.Before(anchor) && days != 0 && secs == 0 && loc != time.UTC {
		// A skipped local time can shift every later occurrence, so walk from
		// the anchor, jumping only inside stretches without a transition.
		next = seekDays(anchor, start, days)
	} else {
		offset = int(start.Sub(anchor) / total)
		next = jump(offset)
		for next.After(start) {
			offset--
			next = jump(offset)
		}
	}
	beforeAnchorDays := start.Before(anchor) && days != 0 && secs == 0
	step := func(t time.Time) time.Time {
		if beforeAnchorDays && offset < 0 {
			// Adding forward from a normalized gap time cannot reach the
			// anchor again, so earlier dates stay relative to the anchor.
			offset++
			return jump(offset)
		}
		return addLocal(t, days, secs)
	}
	for next.Before(start) {
		next = step(next)
	}

	seen := map[int64]bool{}
	var out []time.Time
	for counter := 0; ; counter++ {
		if !end.IsZero() && next.After(end) {
			break
		}
		if !seen[next.UnixNano()] {
			seen[next.UnixNano()] = true
			out = append(out, next)
		}
		if len(out) >= n || counter > MaxIterations {
			break
		}
		next = step(next)
	}
	return out, nil
}

// seekDays advances cur by multiples of days until it is not before start,
// leaving one step before each zone transition so that the step across it is
// taken one interval at a time, as Prefect's _seek_calendar_interval does.
func seekDays(cur, start time.Time, days int) time.Time {
	for cur.Before(start) {
		boundary := start
		if _, zoneEnd := cur.ZoneBounds(); !zoneEnd.IsZero() && zoneEnd.Before(start) {
			boundary = zoneEnd.In(cur.Location())
		}
		count := max(1, dayDiff(cur, boundary)/days-1)
		cur = addLocal(cur, days*count, 0)
	}
	return cur
}

func dayDiff(a, b time.Time) int {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da) / (24 * time.Hour))
}
