package apitype

import (
	"encoding/json"
	"testing"
)

// Expected values are pydantic 2's own parse of the same strings (the
// validator behind Prefect's IntervalSchedule.interval).
func TestIntervalDurationStrings(t *testing.T) {
	ok := map[string]float64{
		"PT1H": 3600, "P1D": 86400, "P1DT2H30M": 95400, "PT0.5S": 0.5, "P1W": 604800, "P1Y": 31536000,
		"P1M": 2592000, "PT1H30M15.25S": 5415.25, "01:00:00": 3600, "1 day, 01:00:00": 90000,
		"2 days, 00:00:01": 172801, "-PT1H": -3600, "+PT1H": 3600, "01:00": 3600, "1:00:00": 3600,
		"P1DT": 86400, "PT36H": 129600, "P2W1D": 1296000, "P1.5D": 129600, "PT1S1H": 3601, "P1D1D": 172800,
	}
	for in, want := range ok {
		var s Schedule
		if err := json.Unmarshal([]byte(`{"interval": "`+in+`", "anchor_date": "2024-01-01T00:00:00Z"}`), &s); err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if s.Interval.Interval != want {
			t.Errorf("%q: got %v seconds, want %v", in, s.Interval.Interval, want)
		}
	}
	for _, in := range []string{"PT", "P", "pt1h", "3600", "", "PT1X", "P1H", "1 week, 01:00:00", "1:2:3:4", "1.5:00"} {
		var s Schedule
		if err := json.Unmarshal([]byte(`{"interval": "`+in+`"}`), &s); err == nil {
			t.Errorf("%q: accepted as %v seconds", in, s.Interval.Interval)
		}
		if s.Interval != nil {
			t.Errorf("%q: a failed decode must leave no member set", in)
		}
	}
}
