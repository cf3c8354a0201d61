package storagetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testWorkPoll(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("PoolOrderAndFilters", func(t *testing.T) { testPollOrder(t, open(t)) })
	t.Run("PoolConcurrency", func(t *testing.T) { testPollConcurrency(t, open(t)) })
	t.Run("Paused", func(t *testing.T) { testPollPaused(t, open(t)) })
	t.Run("QueueRuns", func(t *testing.T) { testQueueRuns(t, open(t)) })
	t.Run("Slots", func(t *testing.T) { testPollSlots(t, open(t)) })
	t.Run("MarkPolledAndDeployments", func(t *testing.T) { testPollDeployments(t, open(t)) })
}

// pollFixture is a pool "pool" with queues "default" (priority 2) and
// "fast" (priority 1), and a flow to make runs of.
type pollFixture struct {
	s     storage.Store
	pool  *apitype.WorkPool
	def   *apitype.WorkQueue
	fast  *apitype.WorkQueue
	flow  *apitype.Flow
	names map[uuid.UUID]string
}

func newPollFixture(t *testing.T, s storage.Store) *pollFixture {
	t.Helper()
	pool := createWorkPool(t, s, "pool", "process", 0)
	fast := createWorkQueue(t, s, "pool", "fast", ptr(int64(1)))
	def, err := s.WorkQueueGet(context.Background(), *pool.DefaultQueueID, at(1))
	require.NoError(t, err)
	require.Equal(t, int64(2), def.Priority)
	return &pollFixture{s: s, pool: pool, def: def, fast: fast, flow: createFlow(t, s, "f", nil, 0), names: map[uuid.UUID]string{}}
}

// run creates a run in queue q (nil: none) entering a state of type typ;
// SCHEDULED runs are due at at(start).
func (f *pollFixture) run(t *testing.T, q *apitype.WorkQueue, name string, typ apitype.StateType, start int, opts ...flowRunOpt) uuid.UUID {
	t.Helper()
	due := stored(at(start))
	fr := createFlowRun(t, f.s, f.flow.ID, name, append([]flowRunOpt{func(r *apitype.FlowRun) {
		if q != nil {
			r.WorkQueueID, r.WorkQueueName = &q.ID, &q.Name
		}
		if typ == apitype.StateTypeScheduled {
			r.NextScheduledStartTime, r.ExpectedStartTime = &due, &due
		}
	}}, opts...)...)
	f.setState(t, fr.ID, newState(typ, string(typ), at(start)))
	f.names[fr.ID] = name
	return fr.ID
}

// setState moves a run to st, keeping its policy and schedule.
func (f *pollFixture) setState(t *testing.T, id uuid.UUID, st *apitype.State) {
	t.Helper()
	err := f.s.FlowRunOrchestrate(context.Background(), id, func(ctx context.Context, tx storage.RunTx) error {
		cur, err := tx.FlowRun(ctx, id)
		if err != nil {
			return err
		}
		cols := runCols(st, nil, nil, 1)
		cols.ExpectedStartTime, cols.NextScheduledStartTime = cur.ExpectedStartTime, cur.NextScheduledStartTime
		cols.FlowPolicy = &cur.EmpiricalPolicy
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
}

// orderedNames lists run names in the order returned.
func orderedNames(runs []apitype.FlowRun) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.Name)
	}
	return out
}

func (f *pollFixture) poll(t *testing.T, p storage.WorkPoolRunsParams) []string {
	t.Helper()
	p.PoolID = f.pool.ID
	if p.Limit == 0 {
		p.Limit = 100
	}
	runs, err := f.s.WorkPoolScheduledRuns(context.Background(), &p)
	require.NoError(t, err)
	out := []string{}
	for _, r := range runs {
		require.Equal(t, f.pool.ID, r.WorkPoolID)
		require.Equal(t, *r.FlowRun.WorkQueueID, r.WorkQueueID)
		require.NotNil(t, r.FlowRun.State, "the run's state is attached")
		require.Equal(t, apitype.StateTypeScheduled, r.FlowRun.State.Type)
		out = append(out, r.FlowRun.Name)
	}
	return out
}

func testPollOrder(t *testing.T, s storage.Store) {
	f := newPollFixture(t, s)
	f.run(t, f.def, "def-10", apitype.StateTypeScheduled, 10)
	f.run(t, f.def, "def-5", apitype.StateTypeScheduled, 5)
	f.run(t, f.fast, "fast-30", apitype.StateTypeScheduled, 30)
	f.run(t, f.fast, "fast-20", apitype.StateTypeScheduled, 20)
	f.run(t, f.fast, "fast-running", apitype.StateTypeRunning, 1)
	f.run(t, nil, "no-queue", apitype.StateTypeScheduled, 1)
	f.run(t, f.def, "in-process-retry", apitype.StateTypeScheduled, 1, func(r *apitype.FlowRun) {
		r.EmpiricalPolicy.RetryType = ptr("in_process")
	})
	createWorkPool(t, s, "other", "process", 0)
	other := createWorkQueue(t, s, "other", "q", nil)
	f.run(t, other, "other-pool", apitype.StateTypeScheduled, 1)

	// Queue priority first, then the soonest start.
	require.Equal(t, []string{"fast-20", "fast-30", "def-5", "def-10"}, f.poll(t, storage.WorkPoolRunsParams{}))
	require.Equal(t, []string{"fast-20", "fast-30"}, f.poll(t, storage.WorkPoolRunsParams{Limit: 2}))
	require.Equal(t, []string{"def-5", "def-10"}, f.poll(t, storage.WorkPoolRunsParams{QueueIDs: []uuid.UUID{f.def.ID}}))
	require.Empty(t, f.poll(t, storage.WorkPoolRunsParams{QueueIDs: []uuid.UUID{}}))
	// Both bounds are inclusive.
	require.Equal(t, []string{"fast-20", "def-5", "def-10"},
		f.poll(t, storage.WorkPoolRunsParams{ScheduledBefore: ptr(at(20))}))
	require.Equal(t, []string{"fast-20", "fast-30", "def-10"},
		f.poll(t, storage.WorkPoolRunsParams{ScheduledAfter: ptr(at(10))}))
	require.Equal(t, []string{"fast-20", "def-10"},
		f.poll(t, storage.WorkPoolRunsParams{ScheduledAfter: ptr(at(10)), ScheduledBefore: ptr(at(20))}))
}

func testPollConcurrency(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newPollFixture(t, s)
	f.run(t, f.fast, "fast-1", apitype.StateTypeScheduled, 1)
	f.run(t, f.fast, "fast-2", apitype.StateTypeScheduled, 2)
	f.run(t, f.fast, "fast-3", apitype.StateTypeScheduled, 3)
	f.run(t, f.def, "def-4", apitype.StateTypeScheduled, 4)
	f.run(t, f.def, "def-5", apitype.StateTypeScheduled, 5)
	f.run(t, f.fast, "fast-running", apitype.StateTypeRunning, 0)
	f.run(t, f.fast, "fast-cancelling", apitype.StateTypeCancelling, 0) // holds no pool-poll slot
	f.run(t, f.def, "def-pending", apitype.StateTypePending, 0)

	setQueueLimit := func(q *apitype.WorkQueue, n *int64) {
		require.NoError(t, s.WorkQueueUpdate(ctx, q.ID, &apitype.WorkQueueUpdate{ConcurrencyLimit: n, ConcurrencyLimitSet: true}, at(2)))
	}
	setPoolLimit := func(n *int64) {
		require.NoError(t, s.WorkPoolUpdate(ctx, "pool", &apitype.WorkPoolUpdate{ConcurrencyLimit: n, ConcurrencyLimitSet: true}, at(2)))
	}
	setQueueLimit(f.fast, ptr(int64(3))) // 1 running: 2 free
	require.Equal(t, []string{"fast-1", "fast-2", "def-4", "def-5"}, f.poll(t, storage.WorkPoolRunsParams{}))
	setQueueLimit(f.fast, ptr(int64(1))) // full
	setQueueLimit(f.def, ptr(int64(0)))  // over-full counts as none free
	require.Empty(t, f.poll(t, storage.WorkPoolRunsParams{}))
	setQueueLimit(f.fast, nil)
	setQueueLimit(f.def, nil)
	setPoolLimit(ptr(int64(4))) // running + pending: 2 free, taken in poll order
	require.Equal(t, []string{"fast-1", "fast-2"}, f.poll(t, storage.WorkPoolRunsParams{}))
	require.Equal(t, []string{"def-4", "def-5"}, f.poll(t, storage.WorkPoolRunsParams{QueueIDs: []uuid.UUID{f.def.ID}}))
	setPoolLimit(ptr(int64(1)))
	require.Empty(t, f.poll(t, storage.WorkPoolRunsParams{}))
	setPoolLimit(nil)
	require.Len(t, f.poll(t, storage.WorkPoolRunsParams{}), 5)
}

func testPollPaused(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newPollFixture(t, s)
	f.run(t, f.fast, "fast", apitype.StateTypeScheduled, 1)
	f.run(t, f.def, "def", apitype.StateTypeScheduled, 2)
	require.NoError(t, s.WorkQueueUpdate(ctx, f.fast.ID, &apitype.WorkQueueUpdate{IsPaused: ptr(true)}, at(2)))
	require.Equal(t, []string{"def"}, f.poll(t, storage.WorkPoolRunsParams{}))
	require.NoError(t, s.WorkPoolUpdate(ctx, "pool", &apitype.WorkPoolUpdate{IsPaused: ptr(true)}, at(2)))
	require.Empty(t, f.poll(t, storage.WorkPoolRunsParams{}))
}

func testQueueRuns(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newPollFixture(t, s)
	f.run(t, f.fast, "fast-2", apitype.StateTypeScheduled, 2)
	f.run(t, f.fast, "fast-1", apitype.StateTypeScheduled, 1)
	f.run(t, f.def, "def-1", apitype.StateTypeScheduled, 1)
	// A run that names the queue but has no queue id belongs to it too.
	f.run(t, nil, "by-name-3", apitype.StateTypeScheduled, 3, func(r *apitype.FlowRun) { r.WorkQueueName = ptr("fast") })
	f.run(t, f.fast, "fast-cancelling", apitype.StateTypeCancelling, 0)
	names := func(before *time.Time, limit int) []string {
		t.Helper()
		runs, err := s.WorkQueueScheduledRuns(ctx, f.fast.ID, before, limit)
		require.NoError(t, err)
		return orderedNames(runs)
	}
	require.Equal(t, []string{"fast-1", "fast-2", "by-name-3"}, names(nil, 10))
	require.Equal(t, []string{"fast-1"}, names(nil, 1))
	require.Equal(t, []string{"fast-1", "fast-2"}, names(ptr(at(2)), 10))
	// Queue polls count CANCELLING against the limit.
	require.NoError(t, s.WorkQueueUpdate(ctx, f.fast.ID, &apitype.WorkQueueUpdate{ConcurrencyLimit: ptr(int64(2)), ConcurrencyLimitSet: true}, at(2)))
	require.Equal(t, []string{"fast-1"}, names(nil, 10))
	require.NoError(t, s.WorkQueueUpdate(ctx, f.fast.ID, &apitype.WorkQueueUpdate{IsPaused: ptr(true)}, at(2)))
	require.Empty(t, names(nil, 10))
	_, err := s.WorkQueueScheduledRuns(ctx, uuid.New(), nil, 10)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testPollSlots(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newPollFixture(t, s)
	running := f.run(t, f.fast, "running", apitype.StateTypeRunning, 0)
	pending := f.run(t, f.fast, "pending", apitype.StateTypePending, 0)
	cancelling := f.run(t, f.fast, "cancelling", apitype.StateTypeCancelling, 0)
	f.run(t, f.fast, "scheduled", apitype.StateTypeScheduled, 0)
	defRunning := f.run(t, f.def, "def-running", apitype.StateTypeRunning, 0)
	byName := f.run(t, nil, "by-name", apitype.StateTypeRunning, 0, func(r *apitype.FlowRun) { r.WorkQueueName = ptr("fast") })
	late := f.run(t, f.def, "late", apitype.StateTypeScheduled, 0)
	f.setState(t, late, newState(apitype.StateTypeScheduled, "Late", at(1)))

	pools, err := s.WorkPoolActiveSlots(ctx, []uuid.UUID{f.pool.ID, uuid.New()})
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID]int64{f.pool.ID: 3}, pools)
	queues, err := s.WorkQueueActiveSlots(ctx, []uuid.UUID{f.fast.ID, f.def.ID}, storage.PoolSlotStates)
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID]int64{f.fast.ID: 2, f.def.ID: 1}, queues)
	queues, err = s.WorkQueueActiveSlots(ctx, []uuid.UUID{f.fast.ID}, storage.QueueSlotStates)
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID]int64{f.fast.ID: 3}, queues)

	holders := func(p storage.SlotHoldersParams) ([]uuid.UUID, int64) {
		t.Helper()
		hs, total, err := s.WorkQueueSlotHolders(ctx, &p)
		require.NoError(t, err)
		var out []uuid.UUID
		for _, h := range hs {
			require.NotNil(t, h.StateType)
			require.NotNil(t, h.StateTimestamp)
			require.Equal(t, f.names[h.ID], h.Name)
			out = append(out, h.ID)
		}
		return out, total
	}
	sorted := func(ids ...uuid.UUID) []uuid.UUID {
		out := slices.Clone(ids)
		slices.SortFunc(out, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		return out
	}
	got, total := holders(storage.SlotHoldersParams{QueueIDs: []uuid.UUID{f.fast.ID, f.def.ID}, States: storage.PoolSlotStates})
	require.Equal(t, sorted(running, pending, defRunning), got)
	require.Equal(t, int64(3), total)
	all := sorted(running, pending, cancelling, byName)
	got, total = holders(storage.SlotHoldersParams{QueueIDs: []uuid.UUID{f.fast.ID}, States: storage.QueueSlotStates, ByName: true})
	require.Equal(t, all, got)
	require.Equal(t, int64(4), total)
	got, total = holders(storage.SlotHoldersParams{QueueIDs: []uuid.UUID{f.fast.ID}, States: storage.QueueSlotStates, ByName: true, Limit: 2, Offset: 1})
	require.Equal(t, all[1:3], got)
	require.Equal(t, int64(4), total)

	n, err := s.WorkQueueLateRuns(ctx, f.def.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	n, err = s.WorkQueueLateRuns(ctx, f.fast.ID)
	require.NoError(t, err)
	require.Zero(t, n)
}

func testPollDeployments(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newPollFixture(t, s)
	dep, _, err := s.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{
		ID: uuid.New(), FlowID: f.flow.ID, Name: "d", WorkPoolName: ptr("pool"), WorkQueueName: ptr("fast"), Now: at(0),
	})
	require.NoError(t, err)
	require.Equal(t, f.fast.ID, *dep.WorkQueueID)
	inDep := func(r *apitype.FlowRun) { r.DeploymentID = &dep.ID }
	f.run(t, f.fast, "dep-2", apitype.StateTypeScheduled, 2, inDep)
	f.run(t, f.fast, "dep-1", apitype.StateTypeScheduled, 1, inDep)
	f.run(t, f.fast, "dep-running", apitype.StateTypeRunning, 0, inDep)
	f.run(t, f.fast, "no-dep", apitype.StateTypeScheduled, 0)

	runs, err := s.DeploymentScheduledRuns(ctx, []uuid.UUID{dep.ID, uuid.New()}, nil, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"dep-1", "dep-2"}, orderedNames(runs))
	runs, err = s.DeploymentScheduledRuns(ctx, []uuid.UUID{dep.ID}, ptr(at(1)), 10)
	require.NoError(t, err)
	require.Equal(t, []string{"dep-1"}, orderedNames(runs))
	runs, err = s.DeploymentScheduledRuns(ctx, []uuid.UUID{dep.ID}, nil, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"dep-1"}, orderedNames(runs))

	deps, err := s.WorkQueuesMarkPolled(ctx, []uuid.UUID{f.fast.ID, f.def.ID}, at(50))
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{dep.ID}, deps)
	for _, id := range []uuid.UUID{f.fast.ID, f.def.ID} {
		q, err := s.WorkQueueGet(ctx, id, at(51))
		require.NoError(t, err)
		require.Equal(t, stored(at(50)), *q.LastPolled)
		require.Equal(t, apitype.WorkQueueStatusReady, q.Status)
	}
	deps, err = s.WorkQueuesMarkPolled(ctx, []uuid.UUID{f.def.ID}, at(60))
	require.NoError(t, err)
	require.Empty(t, deps)
}
