package schedule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func ptr(s string) *string { return &s }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func inZone(tz string, y int, mo time.Month, d, h, mi int) time.Time {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		panic(err)
	}
	return time.Date(y, mo, d, h, mi, 0, 0, loc)
}

func fmtUTC(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.RFC3339)
	}
	return out
}

// Expected values were produced by Prefect 3.9.1's own get_dates with the same
// inputs (a few by hand from the zone rules), so they pin Prefect behaviour.
func TestDatesMatchPrefect(t *testing.T) {
	ny, berlin := "America/New_York", "Europe/Berlin"
	cases := []struct {
		name  string
		s     apitype.Schedule
		n     int
		start time.Time
		want  []string
	}{
		{"interval daily before anchor across spring DST",
			apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 86400, AnchorDate: inZone(ny, 2026, 3, 10, 9, 0), Timezone: &ny}},
			4, utc("2026-03-06T00:00:00Z"),
			[]string{"2026-03-06T14:00:00Z", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"}},
		{"interval daily after anchor keeps 9am wall clock",
			apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 86400, AnchorDate: inZone(ny, 2026, 1, 1, 9, 0), Timezone: &ny}},
			2, utc("2026-07-01T00:00:00Z"),
			[]string{"2026-07-01T13:00:00Z", "2026-07-02T13:00:00Z"}},
		{"interval hourly is elapsed time across DST",
			apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 3600, AnchorDate: inZone(ny, 2026, 3, 8, 0, 0), Timezone: &ny}},
			4, utc("2026-03-08T05:00:00Z"),
			[]string{"2026-03-08T05:00:00Z", "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		{"cron 9am Berlin across spring DST",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 9 * * *", Timezone: &berlin, DayOr: true}},
			4, utc("2026-03-27T00:00:00Z"),
			[]string{"2026-03-27T08:00:00Z", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"}},
		{"cron 9am Berlin across autumn DST",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 9 * * *", Timezone: &berlin, DayOr: true}},
			3, utc("2026-10-24T00:00:00Z"),
			[]string{"2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z"}},
		{"cron skipped 02:30 moves forward",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "30 2 * * *", Timezone: &berlin, DayOr: true}},
			3, utc("2026-03-28T00:00:00Z"),
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"}},
		{"cron repeated 02:30 runs once",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "30 2 * * *", Timezone: &berlin, DayOr: true}},
			3, utc("2026-10-24T00:00:00Z"),
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"cron hourly fires the first 2am only",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 * * * *", Timezone: &berlin, DayOr: true}},
			4, utc("2026-10-24T23:30:00Z"),
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z", "2026-10-25T04:00:00Z"}},
		{"cron start just after spring gap",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "*/20 * * * *", Timezone: &berlin, DayOr: true}},
			4, utc("2026-03-29T01:10:00Z"),
			[]string{"2026-03-29T01:20:00Z", "2026-03-29T01:40:00Z", "2026-03-29T02:00:00Z", "2026-03-29T02:20:00Z"}},
		{"cron start inside the repeated hour",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "*/20 * * * *", Timezone: &berlin, DayOr: true}},
			4, utc("2026-10-25T01:10:00Z"),
			[]string{"2026-10-25T02:00:00Z", "2026-10-25T02:20:00Z", "2026-10-25T02:40:00Z", "2026-10-25T03:00:00Z"}},
		{"cron day_or true: 13th OR Friday",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 0 13 * 5", DayOr: true}},
			4, utc("2026-01-01T00:00:00Z"),
			[]string{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"}},
		{"cron day_or false: Friday the 13th",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 0 13 * 5", DayOr: false}},
			3, utc("2026-01-01T00:00:00Z"),
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"}},
		{"cron macro @daily and Sunday as 7",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "@daily", DayOr: true}},
			1, utc("2026-01-01T00:00:01Z"), []string{"2026-01-02T00:00:00Z"}},
		{"cron Sunday as 7",
			apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 0 * * 7", DayOr: true}},
			1, utc("2026-01-01T00:00:00Z"), []string{"2026-01-04T00:00:00Z"}},
		{"rrule without DTSTART in Berlin",
			apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: "FREQ=DAILY;BYHOUR=9", Timezone: &berlin}},
			2, utc("2026-03-28T00:00:00Z"),
			[]string{"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z"}},
		{"rrule UNTIL",
			apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: "DTSTART:20260105T100000\nRRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260126T100000", Timezone: &ny}},
			10, utc("2026-01-01T00:00:00Z"),
			[]string{"2026-01-05T15:00:00Z", "2026-01-12T15:00:00Z", "2026-01-19T15:00:00Z", "2026-01-26T15:00:00Z"}},
		{"rrule COUNT",
			apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: "DTSTART:20260328T090000\nRRULE:FREQ=DAILY;COUNT=3", Timezone: &berlin}},
			10, utc("2026-01-01T00:00:00Z"),
			[]string{"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Dates(tc.s, tc.n, tc.start, time.Time{})
			require.NoError(t, err)
			require.Equal(t, tc.want, fmtUTC(got))
		})
	}
}

func TestDatesLimits(t *testing.T) {
	start, end := utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")
	for name, s := range map[string]apitype.Schedule{
		"interval": {Interval: &apitype.IntervalSchedule{Interval: 60, AnchorDate: start, Timezone: ptr("UTC")}},
		"cron":     {Cron: &apitype.CronSchedule{Cron: "* * * * *", DayOr: true}},
		"rrule":    {RRule: &apitype.RRuleSchedule{RRule: "DTSTART:20260101T000000\nRRULE:FREQ=MINUTELY", Timezone: ptr("UTC")}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Dates(s, 0, start, end) // n unset with an end: Prefect's 1000
			require.NoError(t, err)
			require.Len(t, got, MaxIterations)
			got, err = Dates(s, 0, start, time.Time{}) // n unset, no end: one date
			require.NoError(t, err)
			require.Len(t, got, 1)
			got, err = Dates(s, 50, start, start.Add(10*time.Minute)) // end bounds
			require.NoError(t, err)
			require.Len(t, got, 11)
		})
	}
	// An impossible date yields nothing rather than looping forever.
	got, err := Dates(apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 0 31 2 *", DayOr: true}}, 1, start, time.Time{})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestValidateMessages(t *testing.T) {
	long := "RRULE:FREQ=DAILY" + strings.Repeat("\nRDATE:20260101T000000Z", 300)
	cases := []struct {
		s   apitype.Schedule
		loc string
		msg string
	}{
		{apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "* * *"}}, "cron", `Invalid cron string: "* * *"`},
		{apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "@every 5m"}}, "cron", `Invalid cron string: "@every 5m"`},
		{apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "H * * * *"}}, "cron", `Invalid cron string: "H * * * *"`},
		{apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 0 * * *", Timezone: ptr("Mars/Base")}}, "timezone",
			`Invalid timezone: "Mars/Base" (specify in IANA tzdata format, for example, America/New_York)`},
		{apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 0}}, "interval", "Input should be a positive timedelta"},
		{apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 60, Timezone: ptr("Local")}}, "timezone",
			`Invalid timezone: "Local" (specify in IANA tzdata format, for example, America/New_York)`},
		{apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: ""}}, "rrule", `Invalid RRule string "": empty string`},
		{apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: long}}, "rrule",
			"Invalid RRule string \"" + long[:40] + "...\"\nMax length is 6500, got " + itoa(len(long))},
	}
	for _, tc := range cases {
		err := Validate(tc.s)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, []string{tc.loc}, ve.Loc)
		require.Equal(t, tc.msg, ve.Msg)
	}
	bad := Validate(apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: "RRULE:FREQ=FOO"}})
	require.ErrorContains(t, bad, `Invalid RRule string "RRULE:FREQ=FOO": `)
	require.ErrorIs(t, Validate(apitype.Schedule{}), ErrEmpty)
	for _, ok := range []string{"0 0 * * 5-7", "*/15 9-17 * jan-mar mon-fri", "@hourly", "@annually"} {
		require.NoError(t, Validate(apitype.Schedule{Cron: &apitype.CronSchedule{Cron: ok}}), ok)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestScheduleJSON(t *testing.T) {
	var s apitype.Schedule
	require.NoError(t, json.Unmarshal([]byte(`{"cron":"0 0 * * *"}`), &s))
	require.True(t, s.Cron.DayOr) // Prefect's default
	require.Nil(t, s.Cron.Timezone)
	require.NoError(t, json.Unmarshal([]byte(`{"rrule":"FREQ=DAILY"}`), &s))
	require.Nil(t, s.Cron)
	require.Equal(t, "UTC", *s.RRule.Timezone)
	require.NoError(t, json.Unmarshal([]byte(`{"interval":3600.5}`), &s))
	Normalize(&s, utc("2026-05-01T10:00:00Z"))
	require.Equal(t, utc("2026-05-01T10:00:00Z"), s.Interval.AnchorDate)
	require.Equal(t, "UTC", *s.Interval.Timezone)
	out, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"interval":3600.5,"anchor_date":"2026-05-01T10:00:00Z","timezone":"UTC"}`, string(out))

	for _, bad := range []string{`{}`, `[]`, `{"cron":"* * * * *","extra":1}`, `{"interval":60,"cron":"x"}`, `{"cron":5}`, `null`} {
		require.Error(t, json.Unmarshal([]byte(bad), &s), bad)
	}
}
