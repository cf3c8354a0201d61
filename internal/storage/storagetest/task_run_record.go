package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testTaskRunRecord(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Lifecycle", func(t *testing.T) { testRecordLifecycle(t, open(t)) })
	t.Run("NaturalKey", func(t *testing.T) { testRecordNaturalKey(t, open(t)) })
	t.Run("MissingFlowRun", func(t *testing.T) { testRecordMissingFlowRun(t, open(t)) })
	t.Run("OrderIndependence", func(t *testing.T) { testRecordOrderIndependence(t, open) })
}

// recordOf builds the record of one state event for run id.
func recordOf(id uuid.UUID, flowRunID *uuid.UUID, key string, typ apitype.StateType, name string, ts time.Time) storage.TaskRunRecord {
	return storage.TaskRunRecord{
		Run: apitype.TaskRun{ID: id, FlowRunID: flowRunID, Name: "run-" + key, TaskKey: key, DynamicKey: "0",
			Tags: []string{"a"}, RunCount: 1, EmpiricalPolicy: apitype.TaskRunPolicy{MaxRetries: 2}},
		Fields: storage.TaskRunFieldName | storage.TaskRunFieldTags | storage.TaskRunFieldRunCount | storage.TaskRunFieldEmpiricalPolicy,
		State:  apitype.State{ID: uuid.New(), Type: typ, Name: name, Timestamp: stored(ts), Message: ptr("m-" + name)},
	}
}

func record(t *testing.T, s storage.Store, recs ...storage.TaskRunRecord) []int {
	t.Helper()
	missing, err := s.TaskRunRecordMany(context.Background(), recs, at(100))
	require.NoError(t, err)
	return missing
}

func stateNames(t *testing.T, s storage.Store, id uuid.UUID) []string {
	t.Helper()
	states, err := s.TaskRunStates(context.Background(), id)
	require.NoError(t, err)
	var out []string
	for _, st := range states {
		out = append(out, st.Name)
	}
	return out
}

func testRecordLifecycle(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fr := createFlowRun(t, s, createFlow(t, s, "f", nil, 0).ID, "fr")
	id := uuid.New()
	pending := recordOf(id, &fr.ID, "k", apitype.StateTypePending, "Pending", at(1))
	running := recordOf(id, &fr.ID, "k", apitype.StateTypeRunning, "Running", at(2))
	running.Run.StartTime, running.Fields = ptr(stored(at(2))), running.Fields|storage.TaskRunFieldStartTime
	done := recordOf(id, &fr.ID, "k", apitype.StateTypeCompleted, "Completed", at(3))
	done.Run.StartTime, done.Run.EndTime, done.Run.TotalRunTime = ptr(stored(at(2))), ptr(stored(at(3))), 1.5
	done.Fields |= storage.TaskRunFieldStartTime | storage.TaskRunFieldEndTime | storage.TaskRunFieldTotalRunTime
	done.State.Data = json.RawMessage(`{"storage_key":"k"}`)

	// Out of order and split across batches: the newest state wins.
	require.Empty(t, record(t, s, done))
	require.Empty(t, record(t, s, pending, running))
	require.Empty(t, record(t, s, running, done), "a replay changes nothing")

	tr, err := s.TaskRunGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "run-k", tr.Name)
	require.Equal(t, &fr.ID, tr.FlowRunID)
	require.Equal(t, apitype.StateTypeCompleted, *tr.StateType)
	require.Equal(t, "Completed", *tr.StateName)
	require.Equal(t, done.State.ID, *tr.StateID)
	require.Equal(t, stored(at(3)), *tr.StateTimestamp)
	require.Equal(t, stored(at(2)), *tr.StartTime)
	require.Equal(t, stored(at(3)), *tr.EndTime)
	require.InDelta(t, 1.5, tr.TotalRunTime, 1e-9)
	require.Equal(t, []string{"a"}, tr.Tags)
	require.Equal(t, 2, tr.EmpiricalPolicy.MaxRetries)
	require.Equal(t, stored(at(100)), tr.Created)
	require.NotNil(t, tr.State)
	require.Equal(t, id, *tr.State.StateDetails.TaskRunID, "state details name the run")
	require.Equal(t, fr.ID, *tr.State.StateDetails.FlowRunID)
	require.JSONEq(t, `{"storage_key":"k"}`, string(tr.State.Data))
	require.Equal(t, []string{"Pending", "Running", "Completed"}, stateNames(t, s, id))

	// A state at a timestamp the run already has (another id) is skipped,
	// not an error; the run does not move either.
	twin := recordOf(id, &fr.ID, "k", apitype.StateTypeFailed, "Twin", at(3))
	require.Empty(t, record(t, s, twin))
	require.Equal(t, []string{"Pending", "Running", "Completed"}, stateNames(t, s, id))

	// Without a flow run the run is keyed on its id.
	solo := uuid.New()
	require.Empty(t, record(t, s, recordOf(solo, nil, "solo", apitype.StateTypeRunning, "Running", at(5)),
		recordOf(solo, nil, "solo", apitype.StateTypePending, "Pending", at(4))))
	got, err := s.TaskRunGet(ctx, solo)
	require.NoError(t, err)
	require.Nil(t, got.FlowRunID)
	require.Equal(t, "Running", *got.StateName)
	require.Equal(t, []string{"Pending", "Running"}, stateNames(t, s, solo))
}

func testRecordNaturalKey(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fr := createFlowRun(t, s, createFlow(t, s, "f", nil, 0).ID, "fr")
	// A run created through the API holds the natural key under its own id.
	existing := createTaskRun(t, s, &fr.ID, "api", "k")
	other := uuid.New()
	rec := recordOf(other, &fr.ID, "k", apitype.StateTypeRunning, "Running", at(1))
	require.Empty(t, record(t, s, rec))
	_, err := s.TaskRunGet(ctx, other)
	require.ErrorIs(t, err, storage.ErrNotFound, "no second row for the natural key")
	tr, err := s.TaskRunGet(ctx, existing.ID)
	require.NoError(t, err)
	require.Equal(t, "Running", *tr.StateName)
	require.Equal(t, "run-k", tr.Name, "the newer event's fields are written")
	require.Equal(t, existing.ID, *tr.State.StateDetails.TaskRunID)
	require.Equal(t, []string{"Running"}, stateNames(t, s, existing.ID))
	n, err := s.TaskRunCount(ctx, &storage.RunQuery{})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func testRecordMissingFlowRun(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fr := createFlowRun(t, s, createFlow(t, s, "f", nil, 0).ID, "fr")
	ghost := uuid.New()
	okID, lostID := uuid.New(), uuid.New()
	recs := []storage.TaskRunRecord{
		recordOf(lostID, &ghost, "lost", apitype.StateTypePending, "Pending", at(1)),
		recordOf(okID, &fr.ID, "ok", apitype.StateTypePending, "Pending", at(1)),
		recordOf(lostID, &ghost, "lost", apitype.StateTypeRunning, "Running", at(2)),
	}
	require.Equal(t, []int{0, 2}, record(t, s, recs...), "the records of a missing flow run come back for a retry")
	_, err := s.TaskRunGet(ctx, lostID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.TaskRunGet(ctx, okID)
	require.NoError(t, err, "the rest of the batch is written")

	// Once the flow run exists the retry lands.
	createFlowRun(t, s, fr.FlowID, "late", func(r *apitype.FlowRun) { r.ID = ghost })
	require.Empty(t, record(t, s, recs[0], recs[2]))
	require.Equal(t, []string{"Pending", "Running"}, stateNames(t, s, lostID))
}

// testRecordOrderIndependence is the recorder's property: a random history
// of state events for several task runs, applied one event at a time in
// order to one store and shuffled, with duplicates, in random batches to
// another, leaves identical task_run rows and state lists.
func testRecordOrderIndependence(t *testing.T, open func(t *testing.T) storage.Store) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			inOrder, shuffled := open(t), open(t)
			frIDs := []uuid.UUID{uuid.New(), uuid.New()}
			preexisting := uuid.New() // a run the API created before its events
			for _, s := range []storage.Store{inOrder, shuffled} {
				f := createFlow(t, s, "f", nil, 0)
				for i, id := range frIDs {
					createFlowRun(t, s, f.ID, fmt.Sprint("fr", i), func(r *apitype.FlowRun) { r.ID = id })
				}
				_, _, err := s.TaskRunCreate(context.Background(), &storage.TaskRunCreateParams{Now: at(0),
					Run: apitype.TaskRun{ID: preexisting, Name: "api", FlowRunID: &frIDs[0], TaskKey: "task-0", DynamicKey: "0"}}, nil)
				require.NoError(t, err)
			}
			events := genHistory(rng, frIDs, 6)
			for _, e := range events {
				require.Empty(t, record(t, inOrder, e))
			}

			mixed := slices.Clone(events)
			for range len(events) / 3 {
				mixed = append(mixed, events[rng.IntN(len(events))])
			}
			rng.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
			for len(mixed) > 0 {
				n := min(1+rng.IntN(6), len(mixed))
				require.Empty(t, record(t, shuffled, mixed[:n]...))
				mixed = mixed[n:]
			}

			want, got := recordedRuns(t, inOrder), recordedRuns(t, shuffled)
			require.Len(t, want, 6, "the first run's events land on the run the API created")
			require.Contains(t, ids(want, func(r apitype.TaskRun) uuid.UUID { return r.ID }), preexisting)
			require.Equal(t, want, got)
			for _, r := range want {
				ws, err := inOrder.TaskRunStates(context.Background(), r.ID)
				require.NoError(t, err)
				gs, err := shuffled.TaskRunStates(context.Background(), r.ID)
				require.NoError(t, err)
				require.Equal(t, ws, gs, "states of %s", r.Name)
				require.NotEmpty(t, ws)
				require.Equal(t, ws[len(ws)-1].ID, *r.StateID, "the run points at its newest state")
			}
		})
	}
}

// genHistory returns the state events of n task runs, each run's in time
// order, runs interleaved. Like the SDK's, an event carries every non-null
// field, and fields only become non-null over a run's life.
func genHistory(rng *rand.Rand, flowRuns []uuid.UUID, n int) []storage.TaskRunRecord {
	kinds := []struct {
		typ  apitype.StateType
		name string
	}{{apitype.StateTypePending, "Pending"}, {apitype.StateTypeRunning, "Running"},
		{apitype.StateTypeFailed, "Failed"}, {apitype.StateTypeScheduled, "AwaitingRetry"},
		{apitype.StateTypeRunning, "Retrying"}, {apitype.StateTypeCompleted, "Completed"}}
	var perRun [][]storage.TaskRunRecord
	for i := range n {
		id := uuid.New()
		var fr *uuid.UUID
		if i < n-1 { // the last run has no flow run
			fr = &flowRuns[i%len(flowRuns)]
		}
		key := fmt.Sprint("task-", i)
		fields := storage.TaskRunFieldName | storage.TaskRunFieldTags | storage.TaskRunFieldEmpiricalPolicy
		ts := at(10 * i)
		var evs []storage.TaskRunRecord
		for step := range 1 + rng.IntN(len(kinds)) {
			ts = ts.Add(time.Duration(1+rng.IntN(500)) * time.Millisecond)
			fields |= storage.TaskRunFields(1) << rng.IntN(15)
			k := kinds[step]
			r := apitype.TaskRun{ID: id, FlowRunID: fr, TaskKey: key, DynamicKey: "0"}
			setField(&r, fields, step, ts)
			evs = append(evs, storage.TaskRunRecord{Run: r, Fields: fields,
				State: apitype.State{ID: uuid.New(), Type: k.typ, Name: k.name, Timestamp: stored(ts),
					Message: ptr(fmt.Sprint("step ", step))}})
		}
		perRun = append(perRun, evs)
	}
	var out []storage.TaskRunRecord
	for {
		var live []int
		for i, evs := range perRun {
			if len(evs) > 0 {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return out
		}
		i := live[rng.IntN(len(live))]
		out = append(out, perRun[i][0])
		perRun[i] = perRun[i][1:]
	}
}

// setField gives every field the event carries a value that depends on the
// step, so a regression to an older event shows; absent ones stay zero, as
// decoding an event without them leaves them.
func setField(r *apitype.TaskRun, f storage.TaskRunFields, step int, ts time.Time) {
	has := func(x storage.TaskRunFields) bool { return f&x != 0 }
	t := stored(ts)
	if has(storage.TaskRunFieldName) {
		r.Name = fmt.Sprint("name-", step)
	}
	if has(storage.TaskRunFieldCacheKey) {
		r.CacheKey = ptr(fmt.Sprint("ck-", step))
	}
	if has(storage.TaskRunFieldCacheExpiration) {
		r.CacheExpiration = &t
	}
	if has(storage.TaskRunFieldTaskVersion) {
		r.TaskVersion = ptr(fmt.Sprint("v", step))
	}
	if has(storage.TaskRunFieldEmpiricalPolicy) {
		r.EmpiricalPolicy = apitype.TaskRunPolicy{MaxRetries: step, Retries: ptr(step)}
	}
	if has(storage.TaskRunFieldTags) {
		r.Tags = []string{fmt.Sprint("t", step)}
	}
	if has(storage.TaskRunFieldLabels) {
		r.Labels = map[string]any{"step": fmt.Sprint(step)}
	}
	if has(storage.TaskRunFieldTaskInputs) {
		r.TaskInputs = map[string][]apitype.TaskRunInput{"x": {}}
	}
	if has(storage.TaskRunFieldRunCount) {
		r.RunCount = step
	}
	if has(storage.TaskRunFieldFlowRunRunCount) {
		r.FlowRunRunCount = step + 1
	}
	for _, x := range []struct {
		f   storage.TaskRunFields
		dst **time.Time
	}{{storage.TaskRunFieldExpectedStartTime, &r.ExpectedStartTime}, {storage.TaskRunFieldNextScheduledStartTime, &r.NextScheduledStartTime},
		{storage.TaskRunFieldStartTime, &r.StartTime}, {storage.TaskRunFieldEndTime, &r.EndTime}} {
		if has(x.f) {
			*x.dst = &t
		}
	}
	if has(storage.TaskRunFieldTotalRunTime) {
		r.TotalRunTime = float64(step) / 4
	}
}

// recordedRuns lists every task run by id, without the write-time columns.
func recordedRuns(t *testing.T, s storage.Store) []apitype.TaskRun {
	t.Helper()
	runs, err := s.TaskRunList(context.Background(), &storage.RunListParams{Sort: apitype.TaskRunSortIDDesc})
	require.NoError(t, err)
	for i := range runs {
		runs[i].Created, runs[i].Updated = time.Time{}, time.Time{}
	}
	return runs
}
