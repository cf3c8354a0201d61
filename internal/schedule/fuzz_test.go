package schedule

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// FuzzParsers feeds arbitrary schedule JSON through decoding, validation and
// date generation: nothing may panic or hang, and valid schedules return
// sorted, distinct dates not before start.
func FuzzParsers(f *testing.F) {
	for _, seed := range []string{
		`{"cron":"0 9 * * *","timezone":"Europe/Berlin"}`,
		`{"cron":"0 0 13 * 5","day_or":false}`,
		`{"cron":"@weekly"}`, `{"cron":"*/7 1-5 L * *"}`, `{"cron":"0 0 * * 5-7"}`,
		`{"rrule":"DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=3"}`,
		`{"rrule":"FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20270101T000000Z","timezone":"America/New_York"}`,
		`{"rrule":"RDATE:20260101T000000Z\nEXDATE:20260101T000000Z"}`,
		`{"interval":0.5,"anchor_date":"2026-03-08T01:59:59-05:00","timezone":"America/New_York"}`,
		`{"interval":90000,"anchor_date":"2026-01-31T02:30:00Z","timezone":"Europe/Berlin"}`,
		`{"interval":-1}`, `{"cron":""}`, `{"rrule":"FREQ="}`,
	} {
		f.Add(seed)
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		var s apitype.Schedule
		if json.Unmarshal([]byte(body), &s) != nil {
			return
		}
		Normalize(&s, start)
		if s.Interval != nil && s.Interval.Interval < 1 {
			return // sub-second intervals are valid but make fuzzing slow
		}
		if Validate(s) != nil {
			return
		}
		dates, err := Dates(s, 5, start, start.AddDate(1, 0, 0))
		if err != nil {
			t.Fatalf("valid schedule %s: %v", body, err)
		}
		for i, d := range dates {
			if d.Before(start) || (i > 0 && !d.After(dates[i-1])) {
				t.Fatalf("%s: bad dates %v", body, dates)
			}
		}
	})
}
