package storagetest

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

func testDeployment(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Upsert", func(t *testing.T) { testDeploymentUpsert(t, open(t)) })
	t.Run("WorkQueues", func(t *testing.T) { testDeploymentWorkQueues(t, open(t)) })
	t.Run("ConcurrencyLimit", func(t *testing.T) { testDeploymentLimit(t, open(t)) })
	t.Run("FiltersAndSorts", func(t *testing.T) { testDeploymentFilters(t, open(t)) })
	t.Run("Schedules", func(t *testing.T) { testDeploymentSchedules(t, open(t)) })
	t.Run("ScheduledRuns", func(t *testing.T) { testDeploymentScheduledRuns(t, open(t)) })
	t.Run("Polled", func(t *testing.T) { testDeploymentPolled(t, open(t)) })
	t.Run("RunFilters", func(t *testing.T) { testDeploymentRunFilters(t, open(t)) })
}

func interval(sec float64) apitype.Schedule {
	return apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: sec, AnchorDate: stored(at(0))}}
}

func upsertDeployment(t *testing.T, s storage.Store, p *storage.DeploymentUpsertParams) (*apitype.Deployment, bool) {
	t.Helper()
	if p.ID == uuid.Nil {
		p.ID = uuid.New()
	}
	if p.Now.IsZero() {
		p.Now = at(0)
	}
	d, created, err := s.DeploymentUpsert(context.Background(), p)
	require.NoError(t, err)
	return d, created
}

func testDeploymentUpsert(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	d, created := upsertDeployment(t, s, &storage.DeploymentUpsertParams{
		FlowID: flow.ID, Name: "dep", Version: ptr("1"), Description: ptr("first"), Tags: []string{"a", "b"},
		Parameters: json.RawMessage(`{"x": 1}`), JobVariables: json.RawMessage(`{"image": "i"}`),
		ParameterOpenAPISchema: json.RawMessage(`{"type": "object"}`), PullSteps: json.RawMessage(`[]`),
		EnforceParameterSchema: true, Labels: map[string]any{"prefect.flow.id": flow.ID.String()},
		ConcurrencyOptions: &apitype.ConcurrencyOptions{CollisionStrategy: apitype.CollisionCancelNew},
		Schedules:          []storage.DeploymentScheduleParams{{ID: uuid.New(), Schedule: interval(60), Active: true, Slug: ptr("s1")}},
		Path:               ptr("/p"), Entrypoint: ptr("f.py:f"), Now: at(1),
	})
	require.True(t, created)
	require.Equal(t, "dep", d.Name)
	require.Equal(t, "first", *d.Description)
	require.Equal(t, []string{"a", "b"}, d.Tags)
	require.JSONEq(t, `{"x": 1}`, string(d.Parameters))
	require.JSONEq(t, `{"image": "i"}`, string(d.JobVariables))
	require.JSONEq(t, `{"type": "object"}`, string(d.ParameterOpenAPISchema))
	require.Equal(t, apitype.CollisionCancelNew, d.ConcurrencyOptions.CollisionStrategy)
	require.Equal(t, apitype.DeploymentStatusNotReady, d.Status)
	require.Equal(t, stored(at(1)), d.Created)
	require.Nil(t, d.WorkQueueID)
	require.Nil(t, d.GlobalConcurrencyLimit)
	require.Len(t, d.Schedules, 1)
	require.Equal(t, 60.0, d.Schedules[0].Schedule.Interval.Interval)
	require.Equal(t, "s1", *d.Schedules[0].Slug)

	// An upsert keeps the id and created, replaces the given fields and the
	// schedules, and leaves fields not given alone.
	d2, created := upsertDeployment(t, s, &storage.DeploymentUpsertParams{
		FlowID: flow.ID, Name: "dep", Description: ptr("second"), Tags: []string{"c"},
		Given: map[string]bool{"description": true, "tags": true}, Now: at(2),
	})
	require.False(t, created)
	require.Equal(t, d.ID, d2.ID)
	require.Equal(t, d.Created, d2.Created)
	require.Equal(t, stored(at(2)), d2.Updated)
	require.Equal(t, "second", *d2.Description)
	require.Equal(t, []string{"c"}, d2.Tags)
	require.Equal(t, "1", *d2.Version, "not given: kept")
	require.JSONEq(t, `{"x": 1}`, string(d2.Parameters), "not given: kept")
	require.Empty(t, d2.Schedules, "an upsert replaces the schedules")

	got, err := s.DeploymentGetByName(ctx, "f", "dep")
	require.NoError(t, err)
	require.Equal(t, d2.ID, got.ID)
	_, err = s.DeploymentGetByName(ctx, "other", "dep")
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.DeploymentGet(ctx, uuid.New())
	require.ErrorIs(t, err, storage.ErrNotFound)

	// A missing flow is a conflict and writes nothing.
	_, _, err = s.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{ID: uuid.New(), FlowID: uuid.New(), Name: "x", Now: at(3)})
	require.ErrorIs(t, err, storage.ErrConflict)

	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{
		Paused: ptr(true), Version: ptr("2"), Parameters: json.RawMessage(`{"y": 2}`), Now: at(4),
	}))
	got, err = s.DeploymentGet(ctx, d.ID)
	require.NoError(t, err)
	require.True(t, got.Paused)
	require.Equal(t, "2", *got.Version)
	require.Equal(t, "second", *got.Description)
	require.JSONEq(t, `{"y": 2}`, string(got.Parameters))
	require.ErrorIs(t, s.DeploymentUpdate(ctx, uuid.New(), &storage.DeploymentUpdateParams{Now: at(4)}), storage.ErrNotFound)

	require.NoError(t, s.DeploymentDelete(ctx, d.ID))
	require.ErrorIs(t, s.DeploymentDelete(ctx, d.ID), storage.ErrNotFound)
}

func testDeploymentWorkQueues(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	pool := createWorkPool(t, s, "pool", "process", 0)

	// Pool only: its default queue.
	d, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "a", WorkPoolName: ptr("pool")})
	require.Equal(t, *pool.DefaultQueueID, *d.WorkQueueID)
	require.Equal(t, "default", *d.WorkQueueName)
	require.Equal(t, "pool", *d.WorkPoolName)

	// Pool and queue: the queue is created in the pool.
	d, _ = upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "b",
		WorkPoolName: ptr("pool"), WorkQueueName: ptr("fast")})
	q, err := s.WorkQueueGetByName(ctx, "pool", "fast", at(0))
	require.NoError(t, err)
	require.Equal(t, q.ID, *d.WorkQueueID)
	require.Equal(t, int64(2), q.Priority)

	// Queue only: the default agent pool, created on first use.
	d, _ = upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "c", WorkQueueName: ptr("legacy")})
	require.Equal(t, apitype.DefaultAgentWorkPool, *d.WorkPoolName)
	require.Equal(t, "legacy", *d.WorkQueueName)

	_, _, err = s.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{ID: uuid.New(), FlowID: flow.ID, Name: "d",
		WorkPoolName: ptr("missing"), Now: at(0)})
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.DeploymentGetByName(ctx, "f", "d")
	require.ErrorIs(t, err, storage.ErrNotFound, "nothing written")

	// PATCH moves the deployment; a null pool detaches it.
	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{WorkPoolName: ptr("pool"),
		WorkQueueName: ptr("fast"), Now: at(1)}))
	got, err := s.DeploymentGet(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, q.ID, *got.WorkQueueID)
	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{WorkPoolNameSet: true, Now: at(1)}))
	got, err = s.DeploymentGet(ctx, d.ID)
	require.NoError(t, err)
	require.Nil(t, got.WorkQueueID)
	require.Nil(t, got.WorkPoolName)
}

func testDeploymentLimit(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	d, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "dep",
		ConcurrencyLimit: ptr(int64(2)), ConcurrencyLimitSet: true,
		ConcurrencyOptions: &apitype.ConcurrencyOptions{CollisionStrategy: apitype.CollisionEnqueue}})
	require.NotNil(t, d.GlobalConcurrencyLimit)
	require.Equal(t, "deployment:"+d.ID.String(), d.GlobalConcurrencyLimit.Name)
	require.Equal(t, 2, d.GlobalConcurrencyLimit.Limit)
	limitID := d.GlobalConcurrencyLimit.ID

	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{ConcurrencyLimit: ptr(int64(5)),
		ConcurrencyLimitSet: true, Now: at(1)}))
	got, err := s.DeploymentGet(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, limitID, got.GlobalConcurrencyLimit.ID, "updated in place")
	require.Equal(t, 5, got.GlobalConcurrencyLimit.Limit)

	// The orchestration transaction reads the limit and the options.
	run := createFlowRun(t, s, flow.ID, "r", func(r *apitype.FlowRun) { r.DeploymentID = &d.ID })
	err = s.FlowRunOrchestrate(ctx, run.ID, func(ctx context.Context, tx storage.RunTx) error {
		dc, err := tx.LockDeploymentConcurrency(ctx, d.ID)
		require.NoError(t, err)
		require.Equal(t, limitID, dc.Limit.ID)
		require.Equal(t, 5, dc.Limit.Limit)
		require.Equal(t, apitype.CollisionEnqueue, dc.Options.CollisionStrategy)
		none, err := tx.LockDeploymentConcurrency(ctx, uuid.New())
		require.NoError(t, err)
		require.Nil(t, none)
		return nil
	})
	require.NoError(t, err)

	// null deletes the limit.
	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{ConcurrencyLimitSet: true, Now: at(2)}))
	got, err = s.DeploymentGet(ctx, d.ID)
	require.NoError(t, err)
	require.Nil(t, got.GlobalConcurrencyLimit)
	_, err = s.ConcurrencyLimitV2Get(ctx, storage.LimitKey{ID: limitID}, at(2))
	require.ErrorIs(t, err, storage.ErrNotFound)

	// Deleting the deployment deletes its limit.
	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{ConcurrencyLimit: ptr(int64(1)),
		ConcurrencyLimitSet: true, Now: at(3)}))
	got, err = s.DeploymentGet(ctx, d.ID)
	require.NoError(t, err)
	limitID = got.GlobalConcurrencyLimit.ID
	require.NoError(t, s.DeploymentDelete(ctx, d.ID))
	_, err = s.ConcurrencyLimitV2Get(ctx, storage.LimitKey{ID: limitID}, at(3))
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func depNames(ds []apitype.Deployment) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

func testDeploymentFilters(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f1 := createFlow(t, s, "etl", nil, 0)
	f2 := createFlow(t, s, "report", nil, 0)
	createWorkPool(t, s, "k8s", "kubernetes", 0)
	a, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: f1.ID, Name: "alpha", Tags: []string{"x", "y"},
		WorkPoolName: ptr("k8s"), Now: at(1)})
	upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: f1.ID, Name: "beta", Paused: true, Tags: []string{"y"},
		WorkQueueName: ptr("q1"), Now: at(2)})
	upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: f2.ID, Name: "gamma", Now: at(3)})
	createFlowRun(t, s, f1.ID, "r", func(r *apitype.FlowRun) { r.DeploymentID = &a.ID })

	list := func(q storage.DeploymentQuery, sort string) []string {
		t.Helper()
		ds, err := s.DeploymentList(ctx, &storage.DeploymentListParams{DeploymentQuery: q, Sort: sort})
		require.NoError(t, err)
		n, err := s.DeploymentCount(ctx, &q)
		require.NoError(t, err)
		require.Equal(t, int64(len(ds)), n)
		return depNames(ds)
	}
	require.Equal(t, []string{"alpha", "beta", "gamma"}, list(storage.DeploymentQuery{}, ""))
	require.Equal(t, []string{"gamma", "beta", "alpha"}, list(storage.DeploymentQuery{}, apitype.DeploymentSortNameDesc))
	require.Equal(t, []string{"gamma", "beta", "alpha"}, list(storage.DeploymentQuery{}, apitype.DeploymentSortCreatedDesc))
	df := func(f apitype.DeploymentFilter) storage.DeploymentQuery {
		return storage.DeploymentQuery{Deployments: &f}
	}
	require.Equal(t, []string{"beta"}, list(df(apitype.DeploymentFilter{Paused: &apitype.DeploymentFilterPaused{EqualTo: ptr(true)}}), ""))
	require.Equal(t, []string{"alpha", "beta"}, list(df(apitype.DeploymentFilter{Tags: &apitype.DeploymentFilterTags{All: []string{"y"}}}), ""))
	require.Equal(t, []string{"alpha"}, list(df(apitype.DeploymentFilter{Tags: &apitype.DeploymentFilterTags{Any: []string{"x", "z"}}}), ""))
	require.Equal(t, []string{"gamma"}, list(df(apitype.DeploymentFilter{Tags: &apitype.DeploymentFilterTags{IsNull: ptr(true)}}), ""))
	require.Equal(t, []string{"alpha"}, list(df(apitype.DeploymentFilter{Name: &apitype.DeploymentFilterName{Like: ptr("LPH")}}), ""))
	require.Equal(t, []string{"gamma"}, list(df(apitype.DeploymentFilter{FlowOrDeploymentName: &apitype.DeploymentFilterFlowOrDep{Like: ptr("repo")}}), ""))
	require.Equal(t, []string{"beta", "gamma"}, list(df(apitype.DeploymentFilter{ID: &apitype.FilterID{NotAny: []uuid.UUID{a.ID}}}), ""))
	require.Equal(t, []string{"beta"}, list(df(apitype.DeploymentFilter{WorkQueueName: &apitype.FilterAnyNames{Any: []string{"q1"}}}), ""))
	require.Equal(t, []string{"gamma"}, list(storage.DeploymentQuery{Flows: &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"report"}}}}, ""))
	require.Equal(t, []string{"alpha"}, list(storage.DeploymentQuery{FlowRuns: &apitype.FlowRunFilter{}}, ""))
	require.Equal(t, []string{"alpha"}, list(storage.DeploymentQuery{WorkPools: &apitype.WorkPoolFilter{Type: &apitype.FilterAnyNames{Any: []string{"kubernetes"}}}}, ""))
	require.Equal(t, []string{"beta"}, list(storage.DeploymentQuery{WorkQueues: &apitype.WorkQueueFilter{Name: &apitype.WorkQueueFilterName{Any: []string{"q1"}}}}, ""))

	// Page.
	ds, err := s.DeploymentList(ctx, &storage.DeploymentListParams{Limit: 1, Offset: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"beta"}, depNames(ds))

	// Flows with deployments.
	fl, err := s.FlowList(ctx, &storage.FlowListParams{FlowQuery: storage.FlowQuery{Deployments: &apitype.DeploymentFilter{
		Paused: &apitype.DeploymentFilterPaused{EqualTo: ptr(true)}}}})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{f1.ID}, ids(fl, func(f apitype.Flow) uuid.UUID { return f.ID }))
	n, err := s.FlowCount(ctx, &storage.FlowQuery{Flows: &apitype.FlowFilter{Deployment: &apitype.FlowFilterDeployment{IsNull: ptr(true)}}})
	require.NoError(t, err)
	require.Equal(t, int64(0), n)

	deleted, err := s.DeploymentDeleteMany(ctx, &storage.DeploymentQuery{Deployments: &apitype.DeploymentFilter{
		Tags: &apitype.DeploymentFilterTags{All: []string{"y"}}}}, 1)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{a.ID}, deleted)
	require.Equal(t, []string{"beta", "gamma"}, list(storage.DeploymentQuery{}, ""))
}

func testDeploymentSchedules(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	d, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "dep"})
	first, second := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	created, err := s.DeploymentSchedulesCreate(ctx, d.ID, []storage.DeploymentScheduleParams{
		{ID: first, Schedule: interval(60), Active: true, Slug: ptr("a"), Parameters: json.RawMessage(`{"p": 1}`)},
		{ID: second, Schedule: apitype.Schedule{Cron: &apitype.CronSchedule{Cron: "0 * * * *", DayOr: true}}, Active: false,
			MaxScheduledRuns: ptr(int64(3)), Slug: ptr("b")},
	}, at(1))
	require.NoError(t, err)
	require.Len(t, created, 2)
	list, err := s.DeploymentScheduleList(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{second, first}, ids(list, func(s apitype.DeploymentSchedule) uuid.UUID { return s.ID }),
		"latest first, as Prefect")
	require.JSONEq(t, `{"p": 1}`, string(list[1].Parameters))
	require.Equal(t, int64(3), *list[0].MaxScheduledRuns)
	require.False(t, list[0].Active)

	_, err = s.DeploymentSchedulesCreate(ctx, d.ID, []storage.DeploymentScheduleParams{{ID: uuid.New(), Schedule: interval(5), Slug: ptr("a")}}, at(2))
	require.ErrorIs(t, err, storage.ErrConflict)
	_, err = s.DeploymentSchedulesCreate(ctx, uuid.New(), []storage.DeploymentScheduleParams{{ID: uuid.New(), Schedule: interval(5)}}, at(2))
	require.ErrorIs(t, err, storage.ErrNotFound)

	require.NoError(t, s.DeploymentScheduleUpdate(ctx, d.ID, first, &storage.DeploymentScheduleUpdate{Active: ptr(false),
		Schedule: ptr(interval(120))}, at(3)))
	require.ErrorIs(t, s.DeploymentScheduleUpdate(ctx, uuid.New(), first, &storage.DeploymentScheduleUpdate{}, at(3)), storage.ErrNotFound)
	list, err = s.DeploymentScheduleList(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, first, list[0].ID, "updated moves first")
	require.Equal(t, 120.0, list[0].Schedule.Interval.Interval)

	// Slug-matched patch: rename a→b while b is renamed away.
	require.NoError(t, s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{Now: at(4),
		SchedulePatches: []storage.DeploymentSchedulePatch{
			{Target: "a", Update: storage.DeploymentScheduleUpdate{Slug: ptr("b")}},
			{Target: "b", Update: storage.DeploymentScheduleUpdate{Slug: ptr("c"), Active: ptr(true)}},
		},
		SchedulesAdd: []storage.DeploymentScheduleParams{{ID: uuid.New(), Schedule: interval(10), Active: true, Slug: ptr("d")}},
	}))
	list, err = s.DeploymentScheduleList(ctx, d.ID)
	require.NoError(t, err)
	slugs := map[uuid.UUID]string{}
	for _, sc := range list {
		slugs[sc.ID] = *sc.Slug
	}
	require.Equal(t, "b", slugs[first])
	require.Equal(t, "c", slugs[second])
	require.Len(t, list, 3)
	err = s.DeploymentUpdate(ctx, d.ID, &storage.DeploymentUpdateParams{Now: at(5),
		SchedulePatches: []storage.DeploymentSchedulePatch{{Target: "zz"}}})
	require.ErrorIs(t, err, storage.ErrNotFound)

	require.NoError(t, s.DeploymentScheduleDelete(ctx, d.ID, first))
	require.ErrorIs(t, s.DeploymentScheduleDelete(ctx, d.ID, first), storage.ErrNotFound)
	list, err = s.DeploymentScheduleList(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
}

// scheduledRun creates a SCHEDULED run of the deployment due at `due`.
func scheduledRun(t *testing.T, s storage.Store, flowID, depID uuid.UUID, name string, due time.Time, auto bool, scheduleID *uuid.UUID) uuid.UUID {
	t.Helper()
	r := createFlowRun(t, s, flowID, name, func(r *apitype.FlowRun) {
		r.DeploymentID, r.AutoScheduled = &depID, auto
		if scheduleID != nil {
			r.CreatedBy = &apitype.CreatedBy{ID: scheduleID, Type: ptr("SCHEDULE")}
		}
	})
	st := newState(apitype.StateTypeScheduled, "Scheduled", at(0))
	err := s.FlowRunOrchestrate(context.Background(), r.ID, func(ctx context.Context, tx storage.RunTx) error {
		cols := runCols(st, nil, nil, 0)
		cols.ExpectedStartTime, cols.NextScheduledStartTime = &due, &due
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: r.ID, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
	return r.ID
}

func testDeploymentScheduledRuns(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	d, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "dep"})
	sched := uuid.New()
	past := scheduledRun(t, s, flow.ID, d.ID, "past", at(-100), true, nil)
	future := scheduledRun(t, s, flow.ID, d.ID, "future", at(100), true, &sched)
	other := scheduledRun(t, s, flow.ID, d.ID, "other-schedule", at(100), true, ptr(uuid.New()))
	manual := scheduledRun(t, s, flow.ID, d.ID, "manual", at(100), false, nil)
	exists := func(id uuid.UUID) bool {
		_, err := s.FlowRunGet(ctx, id)
		return err == nil
	}

	n, err := s.DeploymentDeleteScheduledRuns(ctx, d.ID, &sched, at(0))
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.False(t, exists(future))
	require.True(t, exists(other))

	n, err = s.DeploymentDeleteScheduledRuns(ctx, d.ID, nil, at(0))
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "future auto-scheduled only")
	require.True(t, exists(past))
	require.True(t, exists(manual))
	n, err = s.DeploymentDeleteScheduledRuns(ctx, d.ID, nil, time.Time{})
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "zero now: past ones too")
	require.False(t, exists(past))

	// Deleting the deployment deletes its manual scheduled runs too.
	require.NoError(t, s.DeploymentDelete(ctx, d.ID))
	require.False(t, exists(manual))
}

func testDeploymentPolled(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	a, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "a"})
	b, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "b"})
	changed, err := s.DeploymentsMarkPolled(ctx, []uuid.UUID{a.ID, b.ID}, at(10))
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, changed)
	changed, err = s.DeploymentsMarkPolled(ctx, []uuid.UUID{a.ID}, at(20))
	require.NoError(t, err)
	require.Empty(t, changed)
	got, err := s.DeploymentGet(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, apitype.DeploymentStatusReady, got.Status)
	require.Equal(t, stored(at(20)), *got.LastPolled)
	require.Equal(t, a.Updated, got.Updated, "updated untouched")

	changed, err = s.DeploymentsMarkNotReady(ctx, at(15), at(30))
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{b.ID}, changed)
	got, err = s.DeploymentGet(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, apitype.DeploymentStatusNotReady, got.Status)
}

func testDeploymentRunFilters(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	createWorkPool(t, s, "pool", "process", 0)
	d, _ := upsertDeployment(t, s, &storage.DeploymentUpsertParams{FlowID: flow.ID, Name: "dep", WorkPoolName: ptr("pool")})
	inPool := createFlowRun(t, s, flow.ID, "in-pool", func(r *apitype.FlowRun) {
		r.DeploymentID, r.WorkQueueID, r.WorkQueueName = &d.ID, d.WorkQueueID, d.WorkQueueName
	})
	createFlowRun(t, s, flow.ID, "loose")
	tr := createTaskRun(t, s, &inPool.ID, "t", "k")
	createTaskRun(t, s, nil, "t2", "k2")

	runs := func(q storage.RunQuery) []string {
		t.Helper()
		rs, err := s.FlowRunList(ctx, &storage.RunListParams{RunQuery: q})
		require.NoError(t, err)
		n, err := s.FlowRunCount(ctx, &q)
		require.NoError(t, err)
		require.Equal(t, int64(len(rs)), n)
		return runNames(rs, frName)
	}
	require.Equal(t, []string{"in-pool"}, runs(storage.RunQuery{Deployments: &apitype.DeploymentFilter{}}))
	require.Equal(t, []string{"in-pool"}, runs(storage.RunQuery{WorkPools: &apitype.WorkPoolFilter{Name: &apitype.FilterAnyNames{Any: []string{"pool"}}}}))
	require.Empty(t, runs(storage.RunQuery{WorkPools: &apitype.WorkPoolFilter{Name: &apitype.FilterAnyNames{Any: []string{"other"}}}}))
	require.Equal(t, []string{"in-pool"}, runs(storage.RunQuery{WorkQueues: &apitype.WorkQueueFilter{Name: &apitype.WorkQueueFilterName{Any: []string{"default"}}}}))
	require.Empty(t, runs(storage.RunQuery{Deployments: &apitype.DeploymentFilter{Name: &apitype.DeploymentFilterName{Any: []string{"x"}}}}))

	trs, err := s.TaskRunList(ctx, &storage.RunListParams{RunQuery: storage.RunQuery{Deployments: &apitype.DeploymentFilter{
		ID: &apitype.FilterID{Any: []uuid.UUID{d.ID}}}}})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{tr.ID}, ids(trs, func(r apitype.TaskRun) uuid.UUID { return r.ID }))
}
