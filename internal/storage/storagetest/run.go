package storagetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testRuns(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("FlowRunRoundTrip", func(t *testing.T) { testFlowRunRoundTrip(t, open(t)) })
	t.Run("FlowRunIdempotency", func(t *testing.T) { testFlowRunIdempotency(t, open(t)) })
	t.Run("FlowRunUpdateLabelsDelete", func(t *testing.T) { testFlowRunUpdate(t, open(t)) })
	t.Run("TaskRunDedupe", func(t *testing.T) { testTaskRunDedupe(t, open(t)) })
	t.Run("Orchestrate", func(t *testing.T) { testRunOrchestrate(t, open(t)) })
	t.Run("OrchestrateConcurrent", func(t *testing.T) { testRunOrchestrateConcurrent(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { testRunFilters(t, open(t)) })
	t.Run("History", func(t *testing.T) { testRunHistory(t, open(t)) })
}

type flowRunOpt func(r *apitype.FlowRun)

func createFlowRun(t *testing.T, s storage.Store, flowID uuid.UUID, name string, opts ...flowRunOpt) *apitype.FlowRun {
	t.Helper()
	r := apitype.FlowRun{ID: uuid.New(), Name: name, FlowID: flowID}
	for _, o := range opts {
		o(&r)
	}
	fr, created, err := s.FlowRunCreate(context.Background(), &storage.FlowRunCreateParams{Run: r, Now: at(0)}, nil)
	require.NoError(t, err)
	require.True(t, created)
	return fr
}

func createTaskRun(t *testing.T, s storage.Store, flowRunID *uuid.UUID, name, key string) *apitype.TaskRun {
	t.Helper()
	tr, created, err := s.TaskRunCreate(context.Background(), &storage.TaskRunCreateParams{
		Run: apitype.TaskRun{ID: uuid.New(), Name: name, FlowRunID: flowRunID, TaskKey: key, DynamicKey: "0"}, Now: at(0),
	}, nil)
	require.NoError(t, err)
	require.True(t, created)
	return tr
}

// runCols builds the orchestrated columns of a run entering st.
func runCols(st *apitype.State, start, end *time.Time, runCount int) storage.RunColumns {
	return storage.RunColumns{
		StateType: &st.Type, StateName: &st.Name, StateTimestamp: &st.Timestamp, RunCount: runCount,
		StartTime: start, EndTime: end, TotalRunTime: 1500 * time.Millisecond,
		FlowPolicy: &apitype.FlowRunPolicy{PauseKeys: []string{}}, TaskPolicy: nil,
	}
}

func newState(typ apitype.StateType, name string, ts time.Time) *apitype.State {
	return &apitype.State{ID: uuid.New(), Type: typ, Name: name, Timestamp: stored(ts),
		Data: json.RawMessage(`{"type":"reference","storage_key":"k"}`), Message: ptr("msg"),
		StateDetails: apitype.StateDetails{CacheKey: ptr("ck")}}
}

func setFlowRunState(t *testing.T, s storage.Store, id uuid.UUID, st *apitype.State, start, end *time.Time) {
	t.Helper()
	err := s.FlowRunOrchestrate(context.Background(), id, func(ctx context.Context, tx storage.RunTx) error {
		cur, err := tx.FlowRun(ctx, id)
		if err != nil {
			return err
		}
		cols := runCols(st, start, end, 1)
		cols.ExpectedStartTime, cols.NextScheduledStartTime = cur.ExpectedStartTime, cur.NextScheduledStartTime
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
}

func setTaskRunState(t *testing.T, s storage.Store, id uuid.UUID, st *apitype.State, start, end *time.Time) {
	t.Helper()
	cols := runCols(st, start, end, 1)
	cols.FlowPolicy, cols.TaskPolicy, cols.FlowRunRunCount = nil, &apitype.TaskRunPolicy{}, 2
	err := s.TaskRunOrchestrate(context.Background(), id, func(ctx context.Context, tx storage.RunTx) error {
		return tx.SetTaskRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
}

func testFlowRunRoundTrip(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	want := apitype.FlowRun{
		ID: uuid.New(), Name: "happy-otter", FlowID: flow.ID, Parameters: json.RawMessage(`{"b":1,"a":[1,2]}`),
		Context: json.RawMessage(`{}`), Tags: []string{"x", "y"}, Labels: map[string]any{"prefect.flow.id": flow.ID.String(), "n": float64(1)},
		FlowVersion: ptr("v1"), IdempotencyKey: ptr("key"), WorkQueueName: ptr("q"), DeploymentID: ptr(uuid.New()),
		ExpectedStartTime: ptr(stored(at(5))), InfrastructurePID: ptr("pid"), JobVariables: json.RawMessage(`{"env":{}}`),
		CreatedBy:       &apitype.CreatedBy{Type: ptr("DEPLOYMENT")},
		EmpiricalPolicy: apitype.FlowRunPolicy{Retries: ptr(3), RetryDelay: ptr(10), PauseKeys: []string{"p"}, Resuming: ptr(false)},
	}
	fr, created, err := s.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: want, Now: at(1)}, nil)
	require.NoError(t, err)
	require.True(t, created)
	want.Created, want.Updated = stored(at(1)), stored(at(1))
	require.Equal(t, &want, fr)
	got, err := s.FlowRunGet(ctx, want.ID)
	require.NoError(t, err)
	require.Equal(t, &want, got)
	require.Equal(t, time.UTC, got.Created.Location())

	// Defaults: {} parameters and context, [] tags, no labels, no state.
	bare := createFlowRun(t, s, flow.ID, "bare")
	require.JSONEq(t, `{}`, string(bare.Parameters))
	require.JSONEq(t, `{}`, string(bare.Context))
	require.Equal(t, []string{}, bare.Tags)
	require.Equal(t, []string{}, bare.EmpiricalPolicy.PauseKeys)
	require.Nil(t, bare.Labels)
	require.Nil(t, bare.State)
	require.Nil(t, bare.StateType)

	_, err = s.FlowRunGet(ctx, uuid.New())
	require.ErrorIs(t, err, storage.ErrNotFound)
	// A missing flow is an integrity conflict, as in Prefect, and writes nothing.
	_, _, err = s.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: apitype.FlowRun{ID: uuid.New(), Name: "x", FlowID: uuid.New()}, Now: at(0)}, nil)
	require.ErrorIs(t, err, storage.ErrConflict)
	n, err := s.FlowRunCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}

func testFlowRunIdempotency(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	other := createFlow(t, s, "g", nil, 0)
	inits := 0
	init := func(ctx context.Context, tx storage.RunTx, id uuid.UUID) error {
		inits++
		st := newState(apitype.StateTypePending, "Pending", at(1))
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: runCols(st, nil, nil, 0), Now: at(1)})
	}
	first, created, err := s.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: apitype.FlowRun{ID: uuid.New(), Name: "a", FlowID: flow.ID, IdempotencyKey: ptr("k")}, Now: at(1)}, init)
	require.NoError(t, err)
	require.True(t, created)
	require.NotNil(t, first.State, "init ran in the create transaction")
	require.Equal(t, apitype.StateTypePending, first.State.Type)
	again, created, err := s.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: apitype.FlowRun{ID: uuid.New(), Name: "b", FlowID: flow.ID, IdempotencyKey: ptr("k")}, Now: at(2)}, init)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first, again)
	require.Equal(t, 1, inits)
	// The key is per flow; no key never dedupes.
	createFlowRun(t, s, other.ID, "c", func(r *apitype.FlowRun) { r.IdempotencyKey = ptr("k") })
	createFlowRun(t, s, flow.ID, "d")
	createFlowRun(t, s, flow.ID, "e")
	n, err := s.FlowRunCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	// A failing init rolls the insert back.
	_, _, err = s.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: apitype.FlowRun{ID: uuid.New(), Name: "z", FlowID: flow.ID}, Now: at(3)},
		func(context.Context, storage.RunTx, uuid.UUID) error { return context.Canceled })
	require.ErrorIs(t, err, context.Canceled)
	n, err = s.FlowRunCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}

func testFlowRunUpdate(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	fr := createFlowRun(t, s, flow.ID, "a", func(r *apitype.FlowRun) { r.Labels = map[string]any{"a": "1", "b": "2"} })
	require.NoError(t, s.FlowRunUpdate(ctx, fr.ID, &apitype.FlowRunUpdate{Name: ptr("renamed"), Tags: &[]string{"t"},
		Parameters: json.RawMessage(`{"x":1}`), InfrastructurePID: ptr("123"), FlowVersion: ptr("v9")}, at(5)))
	require.NoError(t, s.FlowRunMergeLabels(ctx, fr.ID, map[string]any{"b": "3", "c": true}, at(6)))
	got, err := s.FlowRunGet(ctx, fr.ID)
	require.NoError(t, err)
	require.Equal(t, "renamed", got.Name)
	require.Equal(t, []string{"t"}, got.Tags)
	require.JSONEq(t, `{"x":1}`, string(got.Parameters))
	require.Equal(t, "123", *got.InfrastructurePID)
	require.Equal(t, "v9", *got.FlowVersion)
	require.Equal(t, map[string]any{"a": "1", "b": "3", "c": true}, got.Labels)
	require.Equal(t, stored(at(6)), got.Updated)
	require.ErrorIs(t, s.FlowRunUpdate(ctx, uuid.New(), &apitype.FlowRunUpdate{}, at(0)), storage.ErrNotFound)
	require.ErrorIs(t, s.FlowRunMergeLabels(ctx, uuid.New(), map[string]any{}, at(0)), storage.ErrNotFound)

	// Deleting a run deletes its states and task runs (and theirs).
	setFlowRunState(t, s, fr.ID, newState(apitype.StateTypeRunning, "Running", at(7)), nil, nil)
	tr := createTaskRun(t, s, &fr.ID, "t", "k")
	setTaskRunState(t, s, tr.ID, newState(apitype.StateTypeRunning, "Running", at(8)), nil, nil)
	trState := *getTaskRun(t, s, tr.ID).StateID
	require.NoError(t, s.FlowRunDelete(ctx, fr.ID))
	_, err = s.TaskRunGet(ctx, tr.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	states, err := s.FlowRunStates(ctx, fr.ID)
	require.NoError(t, err)
	require.Empty(t, states)
	_, err = s.TaskRunStateGet(ctx, trState)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.FlowRunDelete(ctx, fr.ID), storage.ErrNotFound)

	// Deleting the flow deletes its runs; bulk delete returns the ids.
	a := createFlowRun(t, s, flow.ID, "a")
	b := createFlowRun(t, s, flow.ID, "b")
	c := createFlowRun(t, s, flow.ID, "c")
	ids, err := s.FlowRunDeleteMany(ctx, &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ID: &apitype.FilterID{Any: []uuid.UUID{a.ID, b.ID}}}}, 1)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.Contains(t, []uuid.UUID{a.ID, b.ID}, ids[0])
	require.NoError(t, s.FlowDelete(ctx, flow.ID))
	_, err = s.FlowRunGet(ctx, c.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func getTaskRun(t *testing.T, s storage.Store, id uuid.UUID) *apitype.TaskRun {
	t.Helper()
	tr, err := s.TaskRunGet(context.Background(), id)
	require.NoError(t, err)
	return tr
}

func testTaskRunDedupe(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	fr := createFlowRun(t, s, flow.ID, "r")
	fr2 := createFlowRun(t, s, flow.ID, "r2")
	create := func(flowRunID *uuid.UUID, key, dyn string) (*apitype.TaskRun, bool) {
		tr, created, err := s.TaskRunCreate(ctx, &storage.TaskRunCreateParams{Run: apitype.TaskRun{
			ID: uuid.New(), Name: "t-" + dyn, FlowRunID: flowRunID, TaskKey: key, DynamicKey: dyn,
			Tags: []string{"a"}, CacheKey: ptr("ck"), TaskVersion: ptr("1"),
			TaskInputs:      map[string][]apitype.TaskRunInput{"x": {{InputType: apitype.TaskInputParameter, Name: "x"}}},
			EmpiricalPolicy: apitype.TaskRunPolicy{Retries: ptr(2), RetryDelay: json.RawMessage(`[1,2.5]`)},
		}, Now: at(0)}, nil)
		require.NoError(t, err)
		return tr, created
	}
	first, created := create(&fr.ID, "k", "0")
	require.True(t, created)
	require.Equal(t, "t-0", first.Name)
	require.Equal(t, []string{"a"}, first.Tags)
	require.JSONEq(t, `[1,2.5]`, string(first.EmpiricalPolicy.RetryDelay))
	require.Equal(t, map[string][]apitype.TaskRunInput{"x": {{InputType: apitype.TaskInputParameter, Name: "x"}}}, first.TaskInputs)
	again, created := create(&fr.ID, "k", "0")
	require.False(t, created)
	require.Equal(t, first, again)
	_, created = create(&fr.ID, "k", "1")
	require.True(t, created)
	_, created = create(&fr2.ID, "k", "0")
	require.True(t, created)
	// Without a flow run the natural key is (task_key, dynamic_key).
	orphan, created := create(nil, "k", "0")
	require.True(t, created)
	dup, created := create(nil, "k", "0")
	require.False(t, created)
	require.Equal(t, orphan.ID, dup.ID)
	n, err := s.TaskRunCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
	// Reusing an id with a different natural key is a conflict.
	_, _, err = s.TaskRunCreate(ctx, &storage.TaskRunCreateParams{Run: apitype.TaskRun{ID: first.ID, TaskKey: "other", DynamicKey: "0"}, Now: at(0)}, nil)
	require.ErrorIs(t, err, storage.ErrConflict)
	_, _, err = s.TaskRunCreate(ctx, &storage.TaskRunCreateParams{Run: apitype.TaskRun{ID: uuid.New(), FlowRunID: ptr(uuid.New()), TaskKey: "k", DynamicKey: "0"}, Now: at(0)}, nil)
	require.ErrorIs(t, err, storage.ErrConflict)

	require.NoError(t, s.TaskRunUpdate(ctx, first.ID, &apitype.TaskRunUpdate{Name: ptr("renamed")}, at(3)))
	require.Equal(t, "renamed", getTaskRun(t, s, first.ID).Name)
	require.NoError(t, s.TaskRunDelete(ctx, first.ID))
	require.ErrorIs(t, s.TaskRunDelete(ctx, first.ID), storage.ErrNotFound)
	require.ErrorIs(t, s.TaskRunUpdate(ctx, first.ID, &apitype.TaskRunUpdate{}, at(3)), storage.ErrNotFound)
}

func testRunOrchestrate(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	fr := createFlowRun(t, s, flow.ID, "r")
	tr := createTaskRun(t, s, &fr.ID, "t", "k")

	require.ErrorIs(t, s.FlowRunOrchestrate(ctx, uuid.New(), func(context.Context, storage.RunTx) error {
		t.Fatal("fn called for a missing run")
		return nil
	}), storage.ErrNotFound)

	pending := newState(apitype.StateTypePending, "Pending", at(1))
	running := newState(apitype.StateTypeRunning, "Running", at(2))
	setFlowRunState(t, s, fr.ID, pending, nil, nil)
	setFlowRunState(t, s, fr.ID, running, ptr(stored(at(2))), nil)
	got, err := s.FlowRunGet(ctx, fr.ID)
	require.NoError(t, err)
	require.Equal(t, running, got.State)
	require.Equal(t, running.ID, *got.StateID)
	require.Equal(t, apitype.StateTypeRunning, *got.StateType)
	require.Equal(t, "Running", *got.StateName)
	require.Equal(t, stored(at(2)), *got.StartTime)
	require.Equal(t, 1.5, got.TotalRunTime)
	require.Equal(t, 1, got.RunCount)
	states, err := s.FlowRunStates(ctx, fr.ID)
	require.NoError(t, err)
	require.Equal(t, []apitype.State{*pending, *running}, states)
	st, err := s.FlowRunStateGet(ctx, pending.ID)
	require.NoError(t, err)
	require.Equal(t, pending, st)

	err = s.FlowRunOrchestrate(ctx, fr.ID, func(ctx context.Context, tx storage.RunTx) error {
		taken, err := tx.FlowRunStateTimestampTaken(ctx, fr.ID, at(2))
		require.NoError(t, err)
		require.True(t, taken)
		taken, err = tx.FlowRunStateTimestampTaken(ctx, fr.ID, at(3))
		require.NoError(t, err)
		require.False(t, taken)
		// A write without a state changes only the columns; a duplicate
		// timestamp is a conflict and rolls back.
		cols := runCols(running, ptr(stored(at(2))), nil, 7)
		require.NoError(t, tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: fr.ID, Columns: cols, Now: at(3)}))
		in, err := tx.FlowRun(ctx, fr.ID)
		require.NoError(t, err)
		require.Equal(t, 7, in.RunCount, "reads see the transaction's writes")
		dup := newState(apitype.StateTypeCompleted, "Completed", at(2))
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: fr.ID, State: dup, Columns: runCols(dup, nil, nil, 8), Now: at(3)})
	})
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err = s.FlowRunGet(ctx, fr.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.RunCount, "rolled back")

	// Task run states and the cache.
	done := newState(apitype.StateTypeCompleted, "Completed", at(4))
	setTaskRunState(t, s, tr.ID, done, ptr(stored(at(3))), ptr(stored(at(4))))
	trGot := getTaskRun(t, s, tr.ID)
	require.Equal(t, done, trGot.State)
	require.Equal(t, 2, trGot.FlowRunRunCount)
	require.Equal(t, stored(at(4)), *trGot.EndTime)
	err = s.TaskRunOrchestrate(ctx, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
		require.NoError(t, tx.LockTaskRun(ctx, tr.ID))
		require.NoError(t, tx.InsertCacheEntry(ctx, &storage.CacheEntry{ID: uuid.New(), CacheKey: "ck", CacheExpiration: ptr(at(100)), StateID: done.ID, Now: at(4)}))
		require.NoError(t, tx.InsertCacheEntry(ctx, &storage.CacheEntry{ID: uuid.New(), CacheKey: "old", CacheExpiration: ptr(at(5)), StateID: done.ID, Now: at(4)}))
		hit, err := tx.CachedTaskRunState(ctx, "ck", at(50))
		require.NoError(t, err)
		require.Equal(t, done, hit)
		miss, err := tx.CachedTaskRunState(ctx, "ck", at(100))
		require.NoError(t, err)
		require.Nil(t, miss, "expired at exactly its expiration")
		miss, err = tx.CachedTaskRunState(ctx, "old", at(6))
		require.NoError(t, err)
		require.Nil(t, miss)
		miss, err = tx.CachedTaskRunState(ctx, "none", at(0))
		require.NoError(t, err)
		require.Nil(t, miss)
		return nil
	})
	require.NoError(t, err)
	trStates, err := s.TaskRunStates(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, []apitype.State{*done}, trStates)
}

// testRunOrchestrateConcurrent proves orchestrations of one run serialise:
// each reads the run count and writes count+1 with a fresh state at the
// first free timestamp, so a lost update or a duplicate timestamp shows.
func testRunOrchestrateConcurrent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	flow := createFlow(t, s, "f", nil, 0)
	fr := createFlowRun(t, s, flow.ID, "r")
	const n = 12
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			errs <- s.FlowRunOrchestrate(ctx, fr.ID, func(ctx context.Context, tx storage.RunTx) error {
				cur, err := tx.FlowRun(ctx, fr.ID)
				if err != nil {
					return err
				}
				ts := at(1)
				for {
					taken, err := tx.FlowRunStateTimestampTaken(ctx, fr.ID, ts)
					if err != nil {
						return err
					}
					if !taken {
						break
					}
					ts = ts.Add(time.Microsecond)
				}
				st := newState(apitype.StateTypeRunning, "Running", ts)
				return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: fr.ID, State: st,
					Columns: runCols(st, nil, nil, cur.RunCount+1), Now: ts})
			})
		}()
	}
	close(start)
	for range n {
		require.NoError(t, <-errs)
	}
	got, err := s.FlowRunGet(ctx, fr.ID)
	require.NoError(t, err)
	require.Equal(t, n, got.RunCount)
	states, err := s.FlowRunStates(ctx, fr.ID)
	require.NoError(t, err)
	require.Len(t, states, n)
	require.Equal(t, states[n-1].ID, *got.StateID, "the run points at its latest state")
}

func runNames[T any](rows []T, name func(T) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = name(r)
	}
	slices.Sort(out)
	return out
}

func frName(r apitype.FlowRun) string { return r.Name }
func trName(r apitype.TaskRun) string { return r.Name }
