package events

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// MaxCountBuckets is Prefect's cap on the buckets of one count-by-time query.
const MaxCountBuckets = 1000

// MinCountInterval is the smallest time_interval Prefect accepts.
const MinCountInterval = 0.01

// BucketWidth is the duration of interval time units.
func BucketWidth(unit string, interval float64) (time.Duration, error) {
	var base time.Duration
	switch unit {
	case apitype.TimeUnitWeek:
		base = 7 * 24 * time.Hour
	case apitype.TimeUnitDay:
		base = 24 * time.Hour
	case apitype.TimeUnitHour:
		base = time.Hour
	case apitype.TimeUnitMinute:
		base = time.Minute
	case apitype.TimeUnitSecond:
		base = time.Second
	default:
		return 0, fmt.Errorf("unknown time unit %q", unit)
	}
	return time.Duration(float64(base) * interval), nil
}

// CheckBuckets returns Prefect's message when [since, until] in interval
// units would need too many buckets (or the interval is too small), else "".
func CheckBuckets(since, until time.Time, unit string, interval float64) string {
	if interval < MinCountInterval {
		return "The minimum interval is 0.01"
	}
	width, err := BucketWidth(unit, interval)
	if err != nil || width <= 0 {
		return "The minimum interval is 0.01"
	}
	n := int64(math.Ceil(float64(until.Sub(since)) / float64(width)))
	if n > MaxCountBuckets {
		return fmt.Sprintf("The given interval would create %d buckets, which is too many. "+
			"Please increase the interval or reduce the time range to produce %d buckets or fewer.", n, MaxCountBuckets)
	}
	return ""
}

// endOfPeriod is the last microsecond of the unit containing t (weeks start
// on Monday), like pendulum's end_of.
func endOfPeriod(t time.Time, unit string) time.Time {
	t = t.UTC()
	var start time.Time
	var width time.Duration
	switch unit {
	case apitype.TimeUnitWeek:
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		return start.AddDate(0, 0, 7).Add(-time.Microsecond)
	case apitype.TimeUnitDay:
		start, width = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), 24*time.Hour
	case apitype.TimeUnitHour:
		start, width = t.Truncate(time.Hour), time.Hour
	case apitype.TimeUnitMinute:
		start, width = t.Truncate(time.Minute), time.Minute
	default:
		start, width = t.Truncate(time.Second), time.Second
	}
	return start.Add(width - time.Microsecond)
}

// TimeCounts lays out count-by-time rows the way Prefect does: one row per
// bucket from the one holding since to the one holding until (clamped to the
// end of the current unit when until is in the future), empty buckets
// counted 0, value the bucket's position, label and start/end the bucket's
// bounds. counts are the storage rows, whose Value is the absolute bucket
// number from storage.EventCountPivot.
func TimeCounts(since, until, now time.Time, unit string, interval float64, counts []apitype.EventCount) ([]apitype.EventCount, error) {
	width, err := BucketWidth(unit, interval)
	if err != nil {
		return nil, err
	}
	pivot := storage.EventCountPivot
	since, until = since.UTC(), until.UTC()
	if until.After(now) {
		until = endOfPeriod(now, unit)
	}
	first := int64(math.Floor(float64(since.Sub(pivot)) / float64(width)))
	out := []apitype.EventCount{}
	for start := pivot.Add(time.Duration(first) * width); start.Before(until); start = start.Add(width) {
		out = append(out, apitype.EventCount{
			Value: strconv.Itoa(len(out)), Label: isoformat(start),
			StartTime: start, EndTime: start.Add(width - time.Microsecond),
		})
		if len(out) > MaxCountBuckets+1 {
			break // CheckBuckets ran first; this only guards the loop
		}
	}
	for _, c := range counts {
		bucket, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("count bucket %q: %w", c.Value, err)
		}
		if i := bucket - first; i >= 0 && i < int64(len(out)) {
			out[i].Count = c.Count
		}
	}
	return out, nil
}

// isoformat renders t as Python's datetime.isoformat does for UTC.
func isoformat(t time.Time) string {
	if t.Nanosecond()/1000 != 0 {
		return t.UTC().Format("2006-01-02T15:04:05.000000-07:00")
	}
	return t.UTC().Format("2006-01-02T15:04:05-07:00")
}
