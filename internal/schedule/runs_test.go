package schedule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func cronSched(expr, tz string, dayOr bool) apitype.Schedule {
	return apitype.Schedule{Cron: &apitype.CronSchedule{Cron: expr, Timezone: ptr(tz), DayOr: dayOr}}
}

func rruleSched(rule, tz string) apitype.Schedule {
	return apitype.Schedule{RRule: &apitype.RRuleSchedule{RRule: rule, Timezone: ptr(tz)}}
}

func intervalSched(d time.Duration, anchor time.Time, tz string) apitype.Schedule {
	return apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: d.Seconds(), AnchorDate: anchor, Timezone: ptr(tz)}}
}

func testDeployment(scheds ...apitype.DeploymentSchedule) *apitype.Deployment {
	return &apitype.Deployment{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000001"),
		FlowID: uuid.MustParse("0193a000-0000-7000-8000-000000000002"), Schedules: scheds,
		Parameters: json.RawMessage(`{}`), Tags: []string{}}
}

func activeSchedule(s apitype.Schedule) apitype.DeploymentSchedule {
	return apitype.DeploymentSchedule{ID: uuid.Must(uuid.NewV7()), Schedule: s, Active: true, Parameters: json.RawMessage(`{}`)}
}

func fixedName() string { return "brave-otter" }

// The expected dates are str(datetime) of what Prefect 3.9.1's scheduler
// plans for the same schedule, start and minimums (its
// _get_dates_generator with the stopping rule of
// _generate_scheduled_flow_runs), so they pin both the dates and the text
// of the idempotency keys.
func TestRunsForMatchPrefect(t *testing.T) {
	ny := "America/New_York"
	cases := []struct {
		name    string
		sched   apitype.Schedule
		start   time.Time
		minRuns int
		want    []string
	}{
		{"cron spring forward: skipped 02:30 runs at 03:30", cronSched("30 2 * * *", ny, true), utc("2024-03-08T12:00:00Z"), 5,
			[]string{"2024-03-09 02:30:00-05:00", "2024-03-10 03:30:00-04:00", "2024-03-11 02:30:00-04:00", "2024-03-12 02:30:00-04:00", "2024-03-13 02:30:00-04:00"}},
		{"cron fall back: repeated 01:30 runs once", cronSched("30 1 * * *", ny, true), utc("2024-11-01T12:00:00Z"), 5,
			[]string{"2024-11-02 01:30:00-04:00", "2024-11-03 01:30:00-04:00", "2024-11-04 01:30:00-05:00", "2024-11-05 01:30:00-05:00", "2024-11-06 01:30:00-05:00"}},
		{"hourly cron across fall back: no duplicate local hour", cronSched("0 * * * *", ny, true), utc("2024-11-03T04:30:00Z"), 4,
			[]string{"2024-11-03 01:00:00-04:00", "2024-11-03 02:00:00-05:00", "2024-11-03 03:00:00-05:00", "2024-11-03 04:00:00-05:00"}},
		{"hourly cron across spring forward: no 02:00", cronSched("0 * * * *", ny, true), utc("2024-03-10T05:30:00Z"), 4,
			[]string{"2024-03-10 01:00:00-05:00", "2024-03-10 03:00:00-04:00", "2024-03-10 04:00:00-04:00", "2024-03-10 05:00:00-04:00"}},
		{"cron day_or true: the 13th or any Friday", cronSched("0 0 13 * 5", "UTC", true), utc("2024-09-01T00:00:00Z"), 5,
			[]string{"2024-09-06 00:00:00+00:00", "2024-09-13 00:00:00+00:00", "2024-09-20 00:00:00+00:00", "2024-09-27 00:00:00+00:00", "2024-10-04 00:00:00+00:00"}},
		{"cron day_or false: Friday the 13th within 100 days", cronSched("0 0 13 * 5", "UTC", false), utc("2024-09-01T00:00:00Z"), 3,
			[]string{"2024-09-13 00:00:00+00:00"}},
		{"rrule COUNT stops the series", rruleSched("DTSTART:20240301T090000\nRRULE:FREQ=DAILY;COUNT=4", ny), utc("2024-03-01T00:00:00Z"), 10,
			[]string{"2024-03-01 09:00:00-05:00", "2024-03-02 09:00:00-05:00", "2024-03-03 09:00:00-05:00", "2024-03-04 09:00:00-05:00"}},
		{"rrule UNTIL stops the series, across DST", rruleSched("DTSTART:20240301T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20240320T000000", ny), utc("2024-03-05T00:00:00Z"), 10,
			[]string{"2024-03-08 09:00:00-05:00", "2024-03-11 09:00:00-04:00", "2024-03-15 09:00:00-04:00", "2024-03-18 09:00:00-04:00"}},
		{"daily interval in New York across spring forward", intervalSched(24*time.Hour, inZone(ny, 2024, 1, 1, 2, 30), ny), utc("2024-03-08T12:00:00Z"), 5,
			[]string{"2024-03-09 02:30:00-05:00", "2024-03-10 03:30:00-04:00", "2024-03-11 03:30:00-04:00", "2024-03-12 03:30:00-04:00", "2024-03-13 03:30:00-04:00"}},
		{"interval with microseconds", intervalSched(30*time.Minute, utc("2024-01-01T00:00:00.25Z"), "UTC"), utc("2024-03-08T12:00:00.123456Z"), 3,
			[]string{"2024-03-08 12:00:00.250000+00:00", "2024-03-08 12:30:00.250000+00:00", "2024-03-08 13:00:00.250000+00:00"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := activeSchedule(tc.sched)
			d := testDeployment(ds)
			w := Window{Start: tc.start, End: tc.start.Add(DefaultMaxScheduledTime), MinTime: time.Hour, MinRuns: tc.minRuns, MaxRuns: 100}
			runs, err := RunsFor(d, w, tc.start, fixedName)
			require.NoError(t, err)
			var got []string
			for _, r := range runs {
				got = append(got, strings.TrimPrefix(*r.IdempotencyKey, "scheduled "+d.ID.String()+" "+ds.ID.String()+" "))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRunsForWindow(t *testing.T) {
	hourly := intervalSched(time.Hour, utc("2024-01-01T00:00:00Z"), "UTC")
	start := utc("2024-03-08T12:30:00Z")
	keys := func(runs []apitype.FlowRun) []string {
		var out []string
		for _, r := range runs {
			out = append(out, PythonDatetime(*r.ExpectedStartTime))
		}
		return out
	}
	t.Run("min time beyond min runs", func(t *testing.T) {
		w := Window{Start: start, End: start.Add(DefaultMaxScheduledTime), MinTime: 5 * time.Hour, MinRuns: 3, MaxRuns: 100}
		runs, err := RunsFor(testDeployment(activeSchedule(hourly)), w, start, fixedName)
		require.NoError(t, err)
		require.Equal(t, []string{"2024-03-08 13:00:00+00:00", "2024-03-08 14:00:00+00:00", "2024-03-08 15:00:00+00:00",
			"2024-03-08 16:00:00+00:00", "2024-03-08 17:00:00+00:00", "2024-03-08 18:00:00+00:00"}, keys(runs))
	})
	t.Run("max runs beats min runs", func(t *testing.T) {
		w := Window{Start: start, End: start.Add(DefaultMaxScheduledTime), MinTime: time.Hour, MinRuns: 3, MaxRuns: 2}
		runs, err := RunsFor(testDeployment(activeSchedule(hourly)), w, start, fixedName)
		require.NoError(t, err)
		require.Equal(t, []string{"2024-03-08 13:00:00+00:00", "2024-03-08 14:00:00+00:00"}, keys(runs))
	})
	t.Run("end bounds the window", func(t *testing.T) {
		w := Window{Start: start, End: start.Add(90 * time.Minute), MinTime: 10 * time.Hour, MinRuns: 5, MaxRuns: 100}
		runs, err := RunsFor(testDeployment(activeSchedule(hourly)), w, start, fixedName)
		require.NoError(t, err)
		require.Equal(t, []string{"2024-03-08 13:00:00+00:00", "2024-03-08 14:00:00+00:00"}, keys(runs))
	})
	t.Run("max_scheduled_runs caps the scheduler only", func(t *testing.T) {
		ds := activeSchedule(hourly)
		two := int64(2)
		ds.MaxScheduledRuns = &two
		w := DefaultWindow(start)
		w.MinRuns = 5
		runs, err := RunsFor(testDeployment(ds), w, start, fixedName)
		require.NoError(t, err)
		require.Len(t, runs, 2)
		w.CapScheduled = false
		runs, err = RunsFor(testDeployment(ds), w, start, fixedName)
		require.NoError(t, err)
		require.Len(t, runs, 5)
	})
	t.Run("inactive schedules plan nothing", func(t *testing.T) {
		ds := activeSchedule(hourly)
		ds.Active = false
		runs, err := RunsFor(testDeployment(ds), DefaultWindow(start), start, fixedName)
		require.NoError(t, err)
		require.Empty(t, runs)
	})
	t.Run("a broken schedule fails the deployment", func(t *testing.T) {
		_, err := RunsFor(testDeployment(activeSchedule(cronSched("not a cron", "UTC", true))), DefaultWindow(start), start, fixedName)
		require.Error(t, err)
	})
}

func TestRunsForRunShape(t *testing.T) {
	now := utc("2024-03-08T12:30:00Z")
	slug := "nightly"
	version, queue := "v7", "critical"
	queueID, docID := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	ds := activeSchedule(intervalSched(time.Hour, utc("2024-01-01T00:00:00Z"), "UTC"))
	ds.Slug = &slug
	ds.Parameters = json.RawMessage(`{"b": 20, "c": [3]}`)
	plain := activeSchedule(cronSched("0 0 * * *", "UTC", true))
	d := testDeployment(ds, plain)
	d.Version, d.WorkQueueName, d.WorkQueueID, d.InfrastructureDocumentID = &version, &queue, &queueID, &docID
	d.Parameters = json.RawMessage(`{"z": 1, "b": 2, "a": {"x": true}}`)
	d.Tags = []string{"etl"}
	d.Labels = map[string]any{"team": "data", "prefect.flow.id": "overridden"}

	w := DefaultWindow(now)
	w.MinRuns, w.MinTime = 1, 0
	runs, err := RunsFor(d, w, now, fixedName)
	require.NoError(t, err)
	require.Len(t, runs, 2)

	r := runs[0]
	require.Equal(t, `{"z":1,"b":20,"a":{"x": true},"c":[3]}`, string(r.Parameters))
	require.Equal(t, []string{"auto-scheduled", "etl"}, r.Tags)
	require.Equal(t, map[string]any{"team": "data", "prefect.flow.id": d.FlowID.String(), "prefect.deployment.id": d.ID.String()}, r.Labels)
	require.Equal(t, "brave-otter", r.Name)
	require.Equal(t, d.FlowID, r.FlowID)
	require.Equal(t, d.ID, *r.DeploymentID)
	require.Equal(t, version, *r.DeploymentVersion)
	require.Equal(t, queue, *r.WorkQueueName)
	require.Equal(t, queueID, *r.WorkQueueID)
	require.Equal(t, docID, *r.InfrastructureDocumentID)
	require.True(t, r.AutoScheduled)
	require.Equal(t, "scheduled "+d.ID.String()+" "+ds.ID.String()+" 2024-03-08 13:00:00+00:00", *r.IdempotencyKey)
	require.Equal(t, apitype.CreatedBy{ID: &ds.ID, Type: ptr("SCHEDULE"), DisplayValue: &slug}, *r.CreatedBy)

	at := utc("2024-03-08T13:00:00Z")
	require.Equal(t, at, *r.ExpectedStartTime)
	require.Equal(t, at, *r.NextScheduledStartTime)
	require.Equal(t, apitype.StateTypeScheduled, *r.StateType)
	require.Equal(t, "Scheduled", *r.StateName)
	require.Equal(t, now, *r.StateTimestamp)
	require.Equal(t, r.State.ID, *r.StateID)
	require.Equal(t, "Flow run scheduled", *r.State.Message)
	require.Equal(t, at, *r.State.StateDetails.ScheduledTime)
	require.Equal(t, r.ID, *r.State.StateDetails.FlowRunID)

	// Without a slug the display value is the schedule's class name;
	// without schedule parameters the deployment's are kept byte for byte.
	require.Equal(t, "CronSchedule", *runs[1].CreatedBy.DisplayValue)
	require.Equal(t, string(d.Parameters), string(runs[1].Parameters))
	require.NotEqual(t, runs[0].ID, runs[1].ID)
}

func TestPythonDatetime(t *testing.T) {
	lmt := time.FixedZone("LMT", -(4*3600 + 56*60 + 2))
	for in, want := range map[time.Time]string{
		utc("2024-03-10T07:30:00Z"):                           "2024-03-10 07:30:00+00:00",
		inZone("Asia/Kolkata", 2024, 1, 2, 3, 4):              "2024-01-02 03:04:00+05:30",
		time.Date(1, 1, 1, 0, 0, 0, 1000, lmt):                "0001-01-01 00:00:00.000001-04:56:02",
		time.Date(2024, 1, 1, 0, 0, 0, 999_999_999, time.UTC): "2024-01-01 00:00:00.999999+00:00",
	} {
		require.Equal(t, want, PythonDatetime(in))
	}
}

func TestMergeObjects(t *testing.T) {
	for _, tc := range []struct{ base, over, want string }{
		{`{}`, `{}`, `{}`},
		{``, `null`, `{}`},
		{`{"a":1}`, `{}`, `{"a":1}`},
		{`{}`, `{"a":1}`, `{"a":1}`},
		{`{"a":1,"b":2,"a":3}`, `{"c":4}`, `{"a":3,"b":2,"c":4}`},
		{`{"a":1,"b":2}`, `{"b":{"n":null},"a":"x"}`, `{"a":"x","b":{"n":null}}`},
	} {
		got, err := mergeObjects(json.RawMessage(tc.base), json.RawMessage(tc.over))
		require.NoError(t, err)
		require.Equal(t, tc.want, string(got), "%s + %s", tc.base, tc.over)
	}
	_, err := mergeObjects(json.RawMessage(`{"a":1}`), json.RawMessage(`[1]`))
	require.Error(t, err)
}

func TestCronLastAndNthRejectedClearly(t *testing.T) {
	for _, expr := range []string{"0 0 L * *", "0 0 * * 5L", "0 0 * * 5#2", "0 0 l * *"} {
		err := Validate(cronSched(expr, "UTC", true))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, expr)
		require.Equal(t, []string{"cron"}, ve.Loc)
		require.Contains(t, ve.Msg, `Invalid cron string: "`+expr+`"`)
		require.Contains(t, ve.Msg, "L and # day extensions are not supported")
	}
	// Month names containing an L stay valid.
	require.NoError(t, Validate(cronSched("0 0 1 JUL *", "UTC", true)))
}
