package service

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func strp(s string) *string { return &s }

func cronOf(expr, tz string, dayOr bool) apitype.Schedule {
	return apitype.Schedule{Cron: &apitype.CronSchedule{Cron: expr, Timezone: strp(tz), DayOr: dayOr}}
}

func hourlyFrom(anchor time.Time) apitype.Schedule {
	return apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 3600, AnchorDate: anchor, Timezone: strp("UTC")}}
}

type schedSpec struct {
	sched  apitype.Schedule
	active bool
	max    *int64
}

// deploy creates a flow and a deployment with the given schedules at now.
func deploy(t *testing.T, st storage.Store, name string, paused bool, now time.Time, specs ...schedSpec) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	flow, _, err := st.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.Must(uuid.NewV7()), Name: "f-" + name, Now: now})
	require.NoError(t, err)
	scheds := []storage.DeploymentScheduleParams{}
	for _, s := range specs {
		scheds = append(scheds, storage.DeploymentScheduleParams{ID: uuid.Must(uuid.NewV7()), Schedule: s.sched,
			Active: s.active, MaxScheduledRuns: s.max, Parameters: json.RawMessage(`{}`)})
	}
	d, _, err := st.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{ID: uuid.Must(uuid.NewV7()), FlowID: flow.ID,
		Name: name, Paused: paused, Schedules: scheds, Parameters: json.RawMessage(`{}`), Tags: []string{},
		EnforceParameterSchema: true, Now: now})
	require.NoError(t, err)
	return d.ID
}

// startTimes lists a deployment's runs' expected start times in UTC, in order.
func startTimes(t *testing.T, st storage.Store, deploymentID uuid.UUID) []string {
	t.Helper()
	runs, err := st.FlowRunList(context.Background(), &storage.RunListParams{
		RunQuery: storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{DeploymentID: &apitype.FilterOptionalID{Any: []uuid.UUID{deploymentID}}}},
		Sort:     apitype.FlowRunSortExpectedStartTimeAsc, Limit: 1000,
	})
	require.NoError(t, err)
	out := []string{}
	keys := map[string]bool{}
	for _, r := range runs {
		require.Equal(t, apitype.StateTypeScheduled, *r.StateType)
		require.True(t, r.AutoScheduled)
		require.False(t, keys[*r.IdempotencyKey], "duplicate run %s", *r.IdempotencyKey)
		keys[*r.IdempotencyKey] = true
		out = append(out, r.ExpectedStartTime.UTC().Format(time.RFC3339))
	}
	return out
}

func mainScheduler(st storage.Store, opts SchedulerOptions, clock *pinnedClock) *Scheduler {
	return NewScheduler(st, opts, Base{Now: clock.Now})[0].(*Scheduler)
}

// The expected dates are what Prefect 3.9.1's scheduler plans for the same
// schedules at the same instant (min_runs 3, min_scheduled_time 1h).
func TestSchedulerSchedulesOnceAndOnlyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2024, 3, 8, 12, 0, 0, 0, time.UTC)
	two := int64(2)
	dst := deploy(t, st, "ny-0230", false, t0, schedSpec{sched: cronOf("30 2 * * *", "America/New_York", true), active: true})
	dayOr := deploy(t, st, "day-or", false, t0, schedSpec{sched: cronOf("0 0 13 * 5", "UTC", true), active: true})
	dayAnd := deploy(t, st, "day-and", false, t0, schedSpec{sched: cronOf("0 0 13 * 5", "UTC", false), active: true})
	rrCount := deploy(t, st, "rrule-count", false, t0, schedSpec{sched: apitype.Schedule{RRule: &apitype.RRuleSchedule{
		RRule: "DTSTART:20240308T090000\nRRULE:FREQ=DAILY;COUNT=2", Timezone: strp("America/New_York")}}, active: true})
	rrUntil := deploy(t, st, "rrule-until", false, t0, schedSpec{sched: apitype.Schedule{RRule: &apitype.RRuleSchedule{
		RRule: "DTSTART:20240301T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20240312T000000", Timezone: strp("America/New_York")}}, active: true})
	interval := deploy(t, st, "hourly", false, t0, schedSpec{sched: hourlyFrom(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), active: true})
	capped := deploy(t, st, "capped", false, t0, schedSpec{sched: hourlyFrom(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), active: true, max: &two})
	paused := deploy(t, st, "paused", true, t0, schedSpec{sched: hourlyFrom(t0), active: true})
	inactive := deploy(t, st, "inactive", false, t0, schedSpec{sched: hourlyFrom(t0), active: false})

	clock := &pinnedClock{t: t0}
	svc := mainScheduler(st, SchedulerOptions{}, clock)
	n, err := svc.runOnce(ctx)
	require.NoError(t, err)

	want := map[uuid.UUID][]string{
		// 02:30 does not exist on 10 March in New York: that run is at 03:30 EDT.
		dst:      {"2024-03-09T07:30:00Z", "2024-03-10T07:30:00Z", "2024-03-11T06:30:00Z"},
		dayOr:    {"2024-03-13T00:00:00Z", "2024-03-15T00:00:00Z", "2024-03-22T00:00:00Z"},
		dayAnd:   {}, // no Friday the 13th within 100 days
		rrCount:  {"2024-03-08T14:00:00Z", "2024-03-09T14:00:00Z"},
		rrUntil:  {"2024-03-08T14:00:00Z", "2024-03-11T13:00:00Z"},
		interval: {"2024-03-08T12:00:00Z", "2024-03-08T13:00:00Z", "2024-03-08T14:00:00Z"},
		capped:   {"2024-03-08T12:00:00Z", "2024-03-08T13:00:00Z"},
		paused:   {},
		inactive: {},
	}
	total := 0
	for id, dates := range want {
		require.Equal(t, dates, startTimes(t, st, id), "deployment %s", id)
		total += len(dates)
	}
	require.Equal(t, total, n)

	// Running again at the same instant inserts nothing.
	n, err = svc.runOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// Ninety minutes on, the hourly schedules need more: the runs already
	// planned are kept, new ones added, the cap still holds.
	clock.Set(t0.Add(90 * time.Minute))
	_, err = svc.runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"2024-03-08T12:00:00Z", "2024-03-08T13:00:00Z", "2024-03-08T14:00:00Z",
		"2024-03-08T15:00:00Z", "2024-03-08T16:00:00Z"}, startTimes(t, st, interval))
	// 12:00 and 13:00 are past now; the cap allows two future runs again.
	require.Equal(t, []string{"2024-03-08T12:00:00Z", "2024-03-08T13:00:00Z", "2024-03-08T14:00:00Z",
		"2024-03-08T15:00:00Z"}, startTimes(t, st, capped))
	require.Empty(t, startTimes(t, st, paused))
	require.Empty(t, startTimes(t, st, inactive))
}

// Across the autumn transition an hourly New York cron runs once per local
// hour: 01:00 EDT, then 02:00 EST — the repeated 01:00 is not doubled.
func TestSchedulerFallBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2024, 11, 3, 4, 30, 0, 0, time.UTC)
	id := deploy(t, st, "ny-hourly", false, t0, schedSpec{sched: cronOf("0 * * * *", "America/New_York", true), active: true})
	_, err := mainScheduler(st, SchedulerOptions{MinRuns: 4}, &pinnedClock{t: t0}).runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"2024-11-03T05:00:00Z", "2024-11-03T07:00:00Z", "2024-11-03T08:00:00Z", "2024-11-03T09:00:00Z"},
		startTimes(t, st, id))
}

func TestSchedulerPagesAndBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2025, 6, 1, 10, 30, 0, 0, time.UTC)
	var ids []uuid.UUID
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, deploy(t, st, name, false, t0, schedSpec{sched: hourlyFrom(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), active: true}))
	}
	svc := mainScheduler(st, SchedulerOptions{DeploymentBatchSize: 2, InsertBatchSize: 4}, &pinnedClock{t: t0})
	n, err := svc.runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 15, n)
	for _, id := range ids {
		require.Len(t, startTimes(t, st, id), 3)
	}
}

func TestRecentDeploymentsScheduler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2025, 6, 1, 10, 30, 0, 0, time.UTC)
	anchor := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	old := deploy(t, st, "old", false, t0.Add(-time.Minute), schedSpec{sched: hourlyFrom(anchor), active: true})
	fresh := deploy(t, st, "fresh", false, t0, schedSpec{sched: hourlyFrom(anchor), active: true})

	svcs := NewScheduler(st, SchedulerOptions{}, Base{Now: (&pinnedClock{t: t0.Add(3 * time.Second)}).Now})
	require.Len(t, svcs, 2)
	recent := svcs[1].(*Scheduler)
	require.Equal(t, "recent_deployments_scheduler", recent.Name())
	require.True(t, recent.Singleton())
	n, err := recent.runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Len(t, startTimes(t, st, fresh), 3)
	require.Empty(t, startTimes(t, st, old), "only recently updated deployments")
}

// A schedule that cannot be evaluated is skipped; the others still get runs.
func TestSchedulerSkipsBrokenDeployment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2025, 6, 1, 10, 30, 0, 0, time.UTC)
	ok := deploy(t, st, "ok", false, t0, schedSpec{sched: hourlyFrom(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), active: true})
	broken := deploy(t, st, "broken", false, t0, schedSpec{sched: cronOf("0 * * * *", "UTC", true), active: true})
	_, err := NewScheduler(brokenSchedule{Store: st, id: broken}, SchedulerOptions{}, Base{Now: (&pinnedClock{t: t0}).Now})[0].(*Scheduler).runOnce(ctx)
	require.NoError(t, err)
	require.Len(t, startTimes(t, st, ok), 3)
	require.Empty(t, startTimes(t, st, broken))
}

// brokenSchedule serves one deployment with a schedule no parser accepts, as
// a row written by an older, laxer version could hold.
type brokenSchedule struct {
	storage.Store
	id uuid.UUID
}

func (b brokenSchedule) DeploymentGet(ctx context.Context, id uuid.UUID) (*apitype.Deployment, error) {
	d, err := b.Store.DeploymentGet(ctx, id)
	if err == nil && id == b.id {
		d.Schedules[0].Schedule = cronOf("61 * * * *", "UTC", true)
	}
	return d, err
}
