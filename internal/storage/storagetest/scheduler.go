package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/schedule"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testScheduler(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("InsertIsIdempotent", func(t *testing.T) { testSchedulerInsert(t, open(t)) })
	t.Run("SelectNeedsRuns", func(t *testing.T) { testSchedulerSelect(t, open(t)) })
	t.Run("SelectRecent", func(t *testing.T) { testSchedulerRecent(t, open(t)) })
}

// hourly is an interval schedule aligned on whole hours.
func hourly() apitype.Schedule {
	utc := "UTC"
	return apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 3600,
		AnchorDate: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Timezone: &utc}}
}

// schedDeployment creates a flow and a deployment with the given schedules.
func schedDeployment(t *testing.T, s storage.Store, name string, paused bool, now time.Time, scheds ...storage.DeploymentScheduleParams) *apitype.Deployment {
	t.Helper()
	ctx := context.Background()
	flow, _, err := s.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.Must(uuid.NewV7()), Name: "flow-" + name, Now: now})
	require.NoError(t, err)
	if scheds == nil {
		scheds = []storage.DeploymentScheduleParams{}
	}
	d, created, err := s.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{
		ID: uuid.Must(uuid.NewV7()), FlowID: flow.ID, Name: name, Paused: paused, Schedules: scheds,
		Parameters: json.RawMessage(`{"x": 1}`), Tags: []string{"t1"}, Labels: map[string]any{"team": "a"},
		EnforceParameterSchema: true, Now: now,
	})
	require.NoError(t, err)
	require.True(t, created)
	return d
}

func activeHourly(active bool, maxRuns *int64) storage.DeploymentScheduleParams {
	return storage.DeploymentScheduleParams{ID: uuid.Must(uuid.NewV7()), Schedule: hourly(), Active: active,
		MaxScheduledRuns: maxRuns, Parameters: json.RawMessage(`{}`)}
}

func planRuns(t *testing.T, d *apitype.Deployment, now time.Time, minRuns int) []apitype.FlowRun {
	t.Helper()
	w := schedule.DefaultWindow(now)
	w.MinRuns = minRuns
	runs, err := schedule.RunsFor(d, w, now, func() string { return "planned-run" })
	require.NoError(t, err)
	return runs
}

func testSchedulerInsert(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	d := schedDeployment(t, s, "ins", false, now, activeHourly(true, nil))
	runs := planRuns(t, d, now, 3)
	require.Len(t, runs, 3)

	got, err := s.SchedulerInsertRuns(ctx, runs, now)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{runs[0].ID, runs[1].ID, runs[2].ID}, got)

	// The stored run reads back like any orchestrated SCHEDULED run.
	fr, err := s.FlowRunGet(ctx, runs[0].ID)
	require.NoError(t, err)
	at := time.Date(2025, 3, 4, 6, 0, 0, 0, time.UTC)
	require.Equal(t, apitype.StateTypeScheduled, *fr.StateType)
	require.Equal(t, "Scheduled", *fr.StateName)
	require.Equal(t, runs[0].State.ID, *fr.StateID)
	require.NotNil(t, fr.State)
	require.Equal(t, runs[0].State.ID, fr.State.ID)
	require.Equal(t, "Flow run scheduled", *fr.State.Message)
	require.Equal(t, at, fr.State.StateDetails.ScheduledTime.UTC())
	require.Equal(t, at, fr.ExpectedStartTime.UTC())
	require.Equal(t, at, fr.NextScheduledStartTime.UTC())
	require.Equal(t, now, fr.State.Timestamp.UTC())
	require.True(t, fr.AutoScheduled)
	require.Equal(t, d.ID, *fr.DeploymentID)
	require.Equal(t, *runs[0].IdempotencyKey, *fr.IdempotencyKey)
	require.Equal(t, []string{"auto-scheduled", "t1"}, fr.Tags)
	require.Equal(t, "a", fr.Labels["team"])
	require.Equal(t, d.ID.String(), fr.Labels["prefect.deployment.id"])
	require.JSONEq(t, `{"x": 1}`, string(fr.Parameters))
	require.Equal(t, d.Schedules[0].ID, *fr.CreatedBy.ID)
	require.Equal(t, "SCHEDULE", *fr.CreatedBy.Type)
	states, err := s.FlowRunStates(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Len(t, states, 1)

	// A fresh plan of the same dates (new ids, same keys) inserts nothing;
	// a longer one inserts only the new dates.
	again, err := s.SchedulerInsertRuns(ctx, planRuns(t, d, now, 3), now)
	require.NoError(t, err)
	require.Empty(t, again)
	longer := planRuns(t, d, now, 5)
	more, err := s.SchedulerInsertRuns(ctx, longer, now)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{longer[3].ID, longer[4].ID}, more)
	n, err := s.FlowRunCount(ctx, &storage.RunQuery{})
	require.NoError(t, err)
	require.EqualValues(t, 5, n)

	// A run without a state is refused and nothing of its batch is kept.
	bad := planRuns(t, d, now.Add(10*time.Hour), 2)
	bad[1].State = nil
	_, err = s.SchedulerInsertRuns(ctx, bad, now)
	require.Error(t, err)
	n, err = s.FlowRunCount(ctx, &storage.RunQuery{})
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
}

func testSchedulerSelect(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	sel := func(at time.Time, after uuid.UUID, limit int) []uuid.UUID {
		t.Helper()
		ids, err := s.SchedulerDeploymentIDs(ctx, &storage.SchedulerSelect{Now: at, MinRuns: 3,
			MinScheduledTime: time.Hour, After: after, Limit: limit})
		require.NoError(t, err)
		return ids
	}
	empty := sel(now, uuid.Nil, 100)
	require.Empty(t, empty)

	due := schedDeployment(t, s, "due", false, now, activeHourly(true, nil))
	schedDeployment(t, s, "paused", true, now, activeHourly(true, nil))
	schedDeployment(t, s, "inactive", false, now, activeHourly(false, nil))
	schedDeployment(t, s, "unscheduled", false, now)
	two := schedDeployment(t, s, "two-schedules", false, now, activeHourly(true, nil), activeHourly(true, nil))
	one := int64(1)
	capped := schedDeployment(t, s, "capped", false, now, activeHourly(true, &one))
	require.Equal(t, sortedIDs(due.ID, two.ID, capped.ID), sel(now, uuid.Nil, 100))

	// Stocked with 3 runs reaching past now+1h: no longer due.
	_, err := s.SchedulerInsertRuns(ctx, planRuns(t, due, now, 3), now)
	require.NoError(t, err)
	// max_scheduled_runs 1: one future run is enough.
	_, err = s.SchedulerInsertRuns(ctx, planRuns(t, capped, now, 1)[:1], now)
	require.NoError(t, err)
	// Only one of two schedules stocked: still due (Prefect checks each).
	runs := planRuns(t, two, now, 3)
	var first []apitype.FlowRun
	for _, r := range runs {
		if *r.CreatedBy.ID == two.Schedules[0].ID {
			first = append(first, r)
		}
	}
	require.Len(t, first, 3)
	_, err = s.SchedulerInsertRuns(ctx, first, now)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{two.ID}, sel(now, uuid.Nil, 100))

	// Hours later the stocked runs are in the past, so both are due again.
	later := now.Add(3 * time.Hour)
	require.Equal(t, sortedIDs(due.ID, two.ID, capped.ID), sel(later, uuid.Nil, 100))

	// The cursor pages in id order.
	all := sel(later, uuid.Nil, 100)
	require.Equal(t, all[:2], sel(later, uuid.Nil, 2))
	require.Equal(t, all[2:], sel(later, all[1], 2))
}

func testSchedulerRecent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	old := schedDeployment(t, s, "old", false, t0, activeHourly(true, nil))
	fresh := schedDeployment(t, s, "fresh", false, t0.Add(time.Minute), activeHourly(true, nil))
	schedDeployment(t, s, "fresh-paused", true, t0.Add(time.Minute), activeHourly(true, nil))
	schedDeployment(t, s, "fresh-inactive", false, t0.Add(time.Minute), activeHourly(false, nil))
	recent := func(since time.Time) []uuid.UUID {
		t.Helper()
		ids, err := s.SchedulerDeploymentIDs(ctx, &storage.SchedulerSelect{Now: t0.Add(time.Minute), MinRuns: 3,
			MinScheduledTime: time.Hour, UpdatedSince: since, Limit: 100})
		require.NoError(t, err)
		return ids
	}
	require.Equal(t, []uuid.UUID{fresh.ID}, recent(t0.Add(time.Minute-6*time.Second)))
	require.Equal(t, sortedIDs(old.ID, fresh.ID), recent(t0))
	require.Empty(t, recent(t0.Add(2*time.Minute)))
	// Recent deployments are selected even when fully stocked: scheduling
	// is idempotent and the update may have changed their schedules.
	_, err := s.SchedulerInsertRuns(ctx, planRuns(t, fresh, t0, 3), t0)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{fresh.ID}, recent(t0.Add(time.Minute-6*time.Second)))
}

func sortedIDs(ids ...uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return out
}
