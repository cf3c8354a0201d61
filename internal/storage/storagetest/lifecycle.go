package storagetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testLifecycle(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("LateAndPaused", func(t *testing.T) { testLifecycleLatePaused(t, open(t)) })
	t.Run("Cancellation", func(t *testing.T) { testLifecycleCancellation(t, open(t)) })
	t.Run("Foreman", func(t *testing.T) { testLifecycleForeman(t, open(t)) })
}

// lcState writes st as the run's state with the given scheduling and end
// columns (what orchestration would have set).
func lcState(t *testing.T, s storage.Store, id uuid.UUID, st *apitype.State, next, end *time.Time) {
	t.Helper()
	err := s.FlowRunOrchestrate(context.Background(), id, func(ctx context.Context, tx storage.RunTx) error {
		cols := runCols(st, nil, end, 1)
		cols.NextScheduledStartTime = next
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
}

func testLifecycleLatePaused(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := createFlow(t, s, "f", nil, 0)
	mk := func(name string, typ apitype.StateType, stateName string, next *time.Time) *apitype.FlowRun {
		fr := createFlowRun(t, s, f.ID, name)
		lcState(t, s, fr.ID, newState(typ, stateName, at(1)), next, nil)
		return fr
	}
	overdue := mk("overdue", apitype.StateTypeScheduled, "Scheduled", ptr(at(0)))
	older := mk("older", apitype.StateTypeScheduled, "Scheduled", ptr(at(-5)))
	mk("already-late", apitype.StateTypeScheduled, "Late", ptr(at(0)))
	mk("future", apitype.StateTypeScheduled, "Scheduled", ptr(at(100)))
	mk("running", apitype.StateTypeRunning, "Running", ptr(at(0)))

	late, err := s.FlowRunsLate(ctx, at(10), 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{older.ID, overdue.ID}, late, "most overdue first; Late, future and running runs excluded")
	late, err = s.FlowRunsLate(ctx, at(0), 1)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{older.ID}, late, "the limit applies")
	late, err = s.FlowRunsLate(ctx, at(-6), 10)
	require.NoError(t, err)
	require.Empty(t, late)

	// Paused runs, with and without a timeout.
	var paused []uuid.UUID
	timeouts := map[uuid.UUID]*time.Time{}
	for i := range 3 {
		fr := createFlowRun(t, s, f.ID, "paused")
		st := newState(apitype.StateTypePaused, "Paused", at(2))
		if i > 0 {
			st.StateDetails.PauseTimeout = ptr(stored(at(60 * i)))
		}
		lcState(t, s, fr.ID, st, nil, nil)
		paused = append(paused, fr.ID)
		timeouts[fr.ID] = st.StateDetails.PauseTimeout
	}
	slices.SortFunc(paused, byteOrder)
	got, err := s.FlowRunsPaused(ctx, uuid.Nil, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	rest, err := s.FlowRunsPaused(ctx, got[1].ID, 2)
	require.NoError(t, err)
	got = append(got, rest...)
	require.Equal(t, paused, ids(got, func(r storage.PausedFlowRun) uuid.UUID { return r.ID }), "ordered by id, paged by after")
	for _, r := range got {
		want := timeouts[r.ID]
		if want == nil {
			require.Nil(t, r.PauseTimeout)
			continue
		}
		require.NotNil(t, r.PauseTimeout)
		require.True(t, want.Equal(*r.PauseTimeout), "%v != %v", want, r.PauseTimeout)
	}
}

// byteOrder is how both engines order uuids.
func byteOrder(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

func testLifecycleCancellation(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := createFlow(t, s, "f", nil, 0)
	taskIn := func(fr *apitype.FlowRun, typ apitype.StateType) *apitype.TaskRun {
		tr := createTaskRun(t, s, &fr.ID, "t", "k-"+uuid.NewString())
		if typ != "" {
			setTaskRunState(t, s, tr.ID, newState(typ, typ.DefaultName(), at(3)), nil, nil)
		}
		return tr
	}
	cancelled := createFlowRun(t, s, f.ID, "cancelled")
	lcState(t, s, cancelled.ID, newState(apitype.StateTypeCancelled, "Cancelled", at(50)), nil, ptr(at(50)))
	oldCancelled := createFlowRun(t, s, f.ID, "old-cancelled")
	lcState(t, s, oldCancelled.ID, newState(apitype.StateTypeCancelled, "Cancelled", at(-5000)), nil, ptr(at(-5000)))
	running := createFlowRun(t, s, f.ID, "running")
	lcState(t, s, running.ID, newState(apitype.StateTypeRunning, "Running", at(5)), nil, nil)

	var want []uuid.UUID
	for _, typ := range []apitype.StateType{apitype.StateTypeRunning, apitype.StateTypePending, apitype.StateTypeCancelling} {
		want = append(want, taskIn(cancelled, typ).ID)
	}
	slices.SortFunc(want, byteOrder)
	taskIn(cancelled, apitype.StateTypeCompleted)
	taskIn(cancelled, "") // no state: left alone
	taskIn(oldCancelled, apitype.StateTypeRunning)
	parentTask := taskIn(running, apitype.StateTypeRunning)

	got, err := s.TaskRunsOfCancelled(ctx, at(0), uuid.Nil, 2)
	require.NoError(t, err)
	require.Equal(t, want[:2], got)
	got, err = s.TaskRunsOfCancelled(ctx, at(0), got[1], 2)
	require.NoError(t, err)
	require.Equal(t, want[2:], got)

	// Subflows: the containing run is the flow run of the parent task run.
	cancelledTask := taskIn(cancelled, apitype.StateTypeCompleted)
	sub := func(parent *apitype.TaskRun, typ apitype.StateType, deployment bool) *apitype.FlowRun {
		fr := createFlowRun(t, s, f.ID, "sub", func(r *apitype.FlowRun) {
			r.ParentTaskRunID = &parent.ID
			if deployment {
				r.DeploymentID = ptr(uuid.New())
			}
		})
		lcState(t, s, fr.ID, newState(typ, typ.DefaultName(), at(6)), nil, nil)
		return fr
	}
	wantSubs := []storage.SubflowRun{
		{ID: sub(cancelledTask, apitype.StateTypeRunning, false).ID, StateType: "RUNNING"},
		{ID: sub(cancelledTask, apitype.StateTypePaused, true).ID, StateType: "PAUSED", HasDeployment: true},
		{ID: sub(cancelledTask, apitype.StateTypeCancelling, false).ID, StateType: "CANCELLING"},
	}
	slices.SortFunc(wantSubs, func(a, b storage.SubflowRun) int { return byteOrder(a.ID, b.ID) })
	sub(cancelledTask, apitype.StateTypeCompleted, false) // finished
	sub(cancelledTask, apitype.StateTypeCancelling, true) // its worker is on it
	sub(parentTask, apitype.StateTypeRunning, false)      // parent still running
	subs, err := s.SubflowRunsOfCancelled(ctx, uuid.Nil, 10)
	require.NoError(t, err)
	require.Equal(t, wantSubs, subs)
	subs, err = s.SubflowRunsOfCancelled(ctx, wantSubs[0].ID, 1)
	require.NoError(t, err)
	require.Equal(t, wantSubs[1:2], subs)

	// CANCELLING runs, oldest first, up to the cutoff.
	c1 := createFlowRun(t, s, f.ID, "c1")
	st1 := newState(apitype.StateTypeCancelling, "Cancelling", at(10))
	lcState(t, s, c1.ID, st1, nil, nil)
	c2 := createFlowRun(t, s, f.ID, "c2")
	lcState(t, s, c2.ID, newState(apitype.StateTypeCancelling, "Cancelling", at(500)), nil, nil)
	cs, err := s.FlowRunsCancelling(ctx, at(100), 10)
	require.NoError(t, err)
	// The cancelling subflow made above (at(6)) is older than c1.
	require.Len(t, cs, 3)
	require.Equal(t, c1.ID, cs[2].ID)
	require.Equal(t, st1.ID, cs[2].StateID)
	require.True(t, stored(at(10)).Equal(cs[2].StateTimestamp))
}

func testLifecycleForeman(t *testing.T, s storage.Store) {
	ctx := context.Background()
	p := createWorkPool(t, s, "proc", "process", 0)
	createWorkPool(t, s, "idle", "process", 0) // never had a worker
	paused := createWorkPool(t, s, "paused", "process", 0)
	require.NoError(t, s.WorkPoolUpdate(ctx, paused.Name, &apitype.WorkPoolUpdate{IsPaused: ptr(true)}, at(0)))
	for _, pool := range []string{"proc", "paused"} {
		require.NoError(t, s.WorkerHeartbeat(ctx, &storage.WorkerHeartbeatParams{
			ID: uuid.New(), PoolName: pool, Name: "w", HeartbeatIntervalSeconds: ptr(int64(10)), Now: at(0),
		}))
	}
	// The worker is online until at(30).
	pools, err := s.WorkPoolsWentNotReady(ctx, at(10), at(25))
	require.NoError(t, err)
	require.Empty(t, pools, "still online")
	pools, err = s.WorkPoolsWentNotReady(ctx, at(25), at(40))
	require.NoError(t, err)
	require.Equal(t, []storage.WorkPoolRef{{ID: p.ID, Name: "proc", Type: "process"}}, pools)
	pools, err = s.WorkPoolsWentNotReady(ctx, at(40), at(55))
	require.NoError(t, err)
	require.Empty(t, pools, "announced once: the transition is before the window")

	// A queue polled at at(0) stops being READY at at(0)+timeout.
	q := createWorkQueue(t, s, "proc", "q", nil)
	_, err = s.WorkQueuesMarkPolled(ctx, []uuid.UUID{q.ID}, at(0))
	require.NoError(t, err)
	queues, err := s.WorkQueuesWentNotReady(ctx, at(0), at(59), time.Minute)
	require.NoError(t, err)
	require.Empty(t, queues)
	queues, err = s.WorkQueuesWentNotReady(ctx, at(59), at(61), time.Minute)
	require.NoError(t, err)
	require.Equal(t, []storage.WorkQueueRef{{ID: q.ID, Name: "q", Pool: storage.WorkPoolRef{ID: p.ID, Name: "proc", Type: "process"}}}, queues)
	queues, err = s.WorkQueuesWentNotReady(ctx, at(61), at(90), time.Minute)
	require.NoError(t, err)
	require.Empty(t, queues)

	// Deployments are described with their flow, queue and pool.
	f := createFlow(t, s, "flow", nil, 0)
	d, _, err := s.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{
		ID: uuid.New(), FlowID: f.ID, Name: "dep", WorkPoolName: ptr("proc"), WorkQueueName: ptr("q"),
		EnforceParameterSchema: true, Now: at(0),
	})
	require.NoError(t, err)
	bare, _, err := s.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{ID: uuid.New(), FlowID: f.ID, Name: "bare", Now: at(0)})
	require.NoError(t, err)
	refs, err := s.DeploymentRefs(ctx, []uuid.UUID{d.ID, bare.ID, uuid.New()})
	require.NoError(t, err)
	require.Len(t, refs, 2, "unknown ids are skipped")
	byID := map[uuid.UUID]storage.DeploymentRef{refs[0].ID: refs[0], refs[1].ID: refs[1]}
	require.Equal(t, storage.DeploymentRef{ID: d.ID, Name: "dep", FlowID: f.ID, FlowName: "flow",
		WorkQueue: &storage.WorkQueueRef{ID: q.ID, Name: "q", Pool: storage.WorkPoolRef{ID: p.ID, Name: "proc", Type: "process"}}}, byID[d.ID])
	require.Equal(t, storage.DeploymentRef{ID: bare.ID, Name: "bare", FlowID: f.ID, FlowName: "flow"}, byID[bare.ID])
}
