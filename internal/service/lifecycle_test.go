package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
	"github.com/warden-orchestration/warden/internal/storage/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// eachEngine runs fn on a fresh SQLite and a fresh PostgreSQL database.
func eachEngine(t *testing.T, fn func(t *testing.T, st storage.Store)) {
	open := func(t *testing.T, url string) storage.Store {
		st, err := dbopen.Open(context.Background(), url, dbopen.Options{Migrate: true})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
	t.Run("sqlite", func(t *testing.T) { fn(t, open(t, "sqlite:///"+filepath.Join(t.TempDir(), "w.db"))) })
	t.Run("postgres", func(t *testing.T) { fn(t, open(t, pgtest.URL(t))) })
}

// recordingBus keeps what is published.
type recordingBus struct {
	mu     sync.Mutex
	events []apitype.ReceivedEvent
}

func (b *recordingBus) Publish(_ context.Context, evs []apitype.ReceivedEvent) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, evs...)
	return nil
}

func (b *recordingBus) Subscribe(context.Context, events.SubscribeOptions) (events.Subscription, error) {
	panic("not used")
}

func (b *recordingBus) names() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.events))
	for i, e := range b.events {
		out[i] = e.Event.Event
	}
	return out
}

func (b *recordingBus) reset() { b.mu.Lock(); b.events = nil; b.mu.Unlock() }

var discard = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// fixture is a store, a pinned clock and a machine over both.
type fixture struct {
	st      storage.Store
	clock   *pinnedClock
	bus     *recordingBus
	machine *runstate.Machine
	flow    *apitype.Flow
}

func newFixture(t *testing.T, st storage.Store) *fixture {
	f := &fixture{st: st, clock: &pinnedClock{t: t0, step: time.Millisecond}, bus: &recordingBus{}}
	f.machine = &runstate.Machine{Store: st, Events: f.bus, Logger: discard, Now: f.clock.Now}
	fl, _, err := st.FlowCreate(context.Background(), &storage.FlowCreateParams{ID: uuid.New(), Name: "f", Now: t0})
	require.NoError(t, err)
	f.flow = fl
	return f
}

func (f *fixture) base() Base { return Base{Logger: discard, Now: f.clock.Now} }

func (f *fixture) flowRun(t *testing.T, opts ...func(*apitype.FlowRun)) *apitype.FlowRun {
	r := apitype.FlowRun{ID: uuid.New(), Name: "r-" + uuid.NewString()[:8], FlowID: f.flow.ID}
	for _, o := range opts {
		o(&r)
	}
	fr, _, err := f.st.FlowRunCreate(context.Background(), &storage.FlowRunCreateParams{Run: r, Now: t0}, nil)
	require.NoError(t, err)
	return fr
}

// put writes a state directly (test setup, no orchestration).
func (f *fixture) put(t *testing.T, id uuid.UUID, st *apitype.State, next, end *time.Time) {
	err := f.st.FlowRunOrchestrate(context.Background(), id, func(ctx context.Context, tx storage.RunTx) error {
		cols := storage.RunColumns{StateType: &st.Type, StateName: &st.Name, StateTimestamp: &st.Timestamp,
			EndTime: end, NextScheduledStartTime: next, FlowPolicy: &apitype.FlowRunPolicy{}}
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
}

func (f *fixture) putTask(t *testing.T, id uuid.UUID, st *apitype.State) {
	err := f.st.TaskRunOrchestrate(context.Background(), id, func(ctx context.Context, tx storage.RunTx) error {
		cols := storage.RunColumns{StateType: &st.Type, StateName: &st.Name, StateTimestamp: &st.Timestamp, TaskPolicy: &apitype.TaskRunPolicy{}}
		return tx.SetTaskRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Columns: cols, Now: st.Timestamp})
	})
	require.NoError(t, err)
}

func (f *fixture) taskRun(t *testing.T, flowRunID uuid.UUID, typ apitype.StateType) *apitype.TaskRun {
	tr, _, err := f.st.TaskRunCreate(context.Background(), &storage.TaskRunCreateParams{
		Run: apitype.TaskRun{ID: uuid.New(), Name: "t", FlowRunID: &flowRunID, TaskKey: uuid.NewString(), DynamicKey: "0"}, Now: t0,
	}, nil)
	require.NoError(t, err)
	f.putTask(t, tr.ID, newState(typ, typ.DefaultName(), "", t0))
	return tr
}

func (f *fixture) state(t *testing.T, id uuid.UUID) *apitype.State {
	fr, err := f.st.FlowRunGet(context.Background(), id)
	require.NoError(t, err)
	return fr.State
}

func (f *fixture) taskState(t *testing.T, id uuid.UUID) *apitype.State {
	tr, err := f.st.TaskRunGet(context.Background(), id)
	require.NoError(t, err)
	return tr.State
}

func TestLateRuns(t *testing.T) {
	eachEngine(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		sched := newState(apitype.StateTypeScheduled, "Scheduled", "", t0.Add(-time.Minute))
		sched.StateDetails.ScheduledTime = &t0
		due := f.flowRun(t)
		f.put(t, due.ID, sched, &t0, nil)
		later := f.flowRun(t)
		f.put(t, later.ID, newState(apitype.StateTypeScheduled, "Scheduled", "", t0), ptr(t0.Add(time.Hour)), nil)

		svc := NewLateRuns(f.machine, LateRunsConfig{}, f.base())
		f.clock.Set(t0.Add(14 * time.Second))
		n, err := svc.runOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "not late until after_seconds (15 s) have passed")

		f.clock.Set(t0.Add(16 * time.Second))
		n, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		s := f.state(t, due.ID)
		require.Equal(t, apitype.StateTypeScheduled, s.Type)
		require.Equal(t, apitype.StateNameLate, s.Name)
		require.NotNil(t, s.StateDetails.ScheduledTime)
		require.True(t, t0.Equal(*s.StateDetails.ScheduledTime), "the scheduled time is kept")
		require.Equal(t, "Scheduled", f.state(t, later.ID).Name)
		require.Equal(t, []string{"prefect.flow-run.Late"}, f.bus.names())

		n, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "a Late run is not marked again")
	})
}

func TestPauseExpirations(t *testing.T) {
	eachEngine(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		pause := func(timeout *time.Time) *apitype.FlowRun {
			fr := f.flowRun(t)
			s := newState(apitype.StateTypePaused, "Paused", "", t0)
			s.StateDetails.PauseTimeout = timeout
			f.put(t, fr.ID, s, nil, nil)
			return fr
		}
		soon := pause(ptr(t0.Add(time.Minute)))
		later := pause(ptr(t0.Add(time.Hour)))
		forever := pause(nil)

		svc := NewPauseExpirations(f.machine, PauseExpirationsConfig{}, f.base())
		f.clock.Set(t0.Add(59 * time.Second))
		n, err := svc.runOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n)

		f.clock.Set(t0.Add(61 * time.Second))
		n, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		s := f.state(t, soon.ID)
		require.Equal(t, apitype.StateTypeFailed, s.Type)
		require.Equal(t, PauseExpiredMessage, *s.Message)
		require.Equal(t, apitype.StateTypePaused, f.state(t, later.ID).Type)
		require.Equal(t, apitype.StateTypePaused, f.state(t, forever.ID).Type)
		require.Equal(t, []string{"prefect.flow-run.Failed"}, f.bus.names())
	})
}

func TestCancellationCleanup(t *testing.T) {
	eachEngine(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		parent := f.flowRun(t)
		running := f.taskRun(t, parent.ID, apitype.StateTypeRunning)
		done := f.taskRun(t, parent.ID, apitype.StateTypeCompleted)
		localTask := f.taskRun(t, parent.ID, apitype.StateTypeRunning)
		local := f.flowRun(t, func(r *apitype.FlowRun) { r.ParentTaskRunID = &localTask.ID })
		f.put(t, local.ID, newState(apitype.StateTypeRunning, "Running", "", t0), nil, nil)
		deployedTask := f.taskRun(t, parent.ID, apitype.StateTypeRunning)
		deployed := f.flowRun(t, func(r *apitype.FlowRun) { r.ParentTaskRunID = &deployedTask.ID; r.DeploymentID = ptr(uuid.New()) })
		f.put(t, deployed.ID, newState(apitype.StateTypeRunning, "Running", "", t0), nil, nil)
		f.put(t, parent.ID, newState(apitype.StateTypeCancelled, "Cancelled", "", t0), nil, &t0)

		stuck := f.flowRun(t)
		stuckState := newState(apitype.StateTypeCancelling, "Cancelling", "", t0)
		f.put(t, stuck.ID, stuckState, nil, nil)

		svc := NewCancellationCleanup(f.machine, CancellationCleanupConfig{}, f.base())
		f.clock.Set(t0.Add(time.Minute))
		res, err := svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, cleanupResult{taskRuns: 3, subflowRuns: 2}, res, "the subflows' parent task runs are cancelled too")
		s := f.taskState(t, running.ID)
		require.Equal(t, apitype.StateTypeCancelled, s.Type)
		require.Equal(t, ParentCancelledMessage, *s.Message)
		require.Equal(t, apitype.StateTypeCompleted, f.taskState(t, done.ID).Type)
		require.Equal(t, apitype.StateTypeCancelled, f.state(t, local.ID).Type, "no infrastructure: cancelled at once")
		require.Equal(t, apitype.StateTypeCancelling, f.state(t, deployed.ID).Type, "its worker must stop it")
		require.Equal(t, ParentCancelledMessage, *f.state(t, deployed.ID).Message)
		require.Equal(t, apitype.StateTypeCancelling, f.state(t, stuck.ID).Type, "not stuck for 300 s yet")

		f.clock.Set(t0.Add(301 * time.Second))
		res, err = svc.runOnce(ctx)
		require.NoError(t, err)
		// The deployed subflow's CANCELLING was mirrored onto its parent task
		// run, which is unfinished again: forced to CANCELLED now. The
		// subflow itself is cancelling since t0+60s only.
		require.Equal(t, cleanupResult{taskRuns: 1, timedOut: 1}, res)
		require.Equal(t, apitype.StateTypeCancelled, f.taskState(t, deployedTask.ID).Type)
		require.Equal(t, apitype.StateTypeCancelling, f.state(t, deployed.ID).Type)
		s = f.state(t, stuck.ID)
		require.Equal(t, apitype.StateTypeCancelled, s.Type)
		require.Equal(t, CancellingTimeoutMessage, *s.Message)

		res, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, cleanupResult{}, res, "nothing left to do")
	})
}

func TestForeman(t *testing.T) {
	eachEngine(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		pool, err := st.WorkPoolCreate(ctx, &storage.WorkPoolCreateParams{ID: uuid.New(), DefaultQueueID: uuid.New(),
			Name: "proc", Type: "process", Now: t0})
		require.NoError(t, err)
		require.NoError(t, st.WorkerHeartbeat(ctx, &storage.WorkerHeartbeatParams{ID: uuid.New(), PoolName: "proc",
			Name: "w", HeartbeatIntervalSeconds: ptr(int64(10)), Now: t0}))
		queue, err := st.WorkQueueGet(ctx, *pool.DefaultQueueID, t0)
		require.NoError(t, err)
		dep, _, err := st.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{ID: uuid.New(), FlowID: f.flow.ID, Name: "d",
			WorkPoolName: ptr("proc"), EnforceParameterSchema: true, Now: t0})
		require.NoError(t, err)
		_, err = st.WorkQueuesMarkPolled(ctx, []uuid.UUID{queue.ID}, t0)
		require.NoError(t, err)
		_, err = st.DeploymentsMarkPolled(ctx, []uuid.UUID{dep.ID}, t0)
		require.NoError(t, err)

		svc := NewForeman(st, f.bus, ForemanConfig{}, f.base())
		f.clock.Set(t0.Add(5 * time.Second))
		_, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Empty(t, f.bus.names(), "everything is fresh")

		f.clock.Set(t0.Add(40 * time.Second)) // the worker went offline at t0+30s
		res, err := svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, foremanResult{pools: 1}, res)
		require.Equal(t, []string{"prefect.work-pool.not-ready"}, f.bus.names())
		ev := f.bus.events[0]
		require.Equal(t, "prefect.work-pool."+pool.ID.String(), ev.Resource.ID())
		require.Equal(t, "process", ev.Resource["prefect.work-pool.type"])
		f.bus.reset()

		f.clock.Set(t0.Add(61 * time.Second)) // unpolled for over 60 s
		res, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, foremanResult{deployments: 1, queues: 1}, res)
		require.ElementsMatch(t, []string{"prefect.deployment.not-ready", "prefect.work-queue.not-ready"}, f.bus.names())
		d, err := st.DeploymentGet(ctx, dep.ID)
		require.NoError(t, err)
		require.Equal(t, apitype.DeploymentStatusNotReady, d.Status)
		for _, ev := range f.bus.events {
			if ev.Event.Event == "prefect.deployment.not-ready" {
				require.Equal(t, "prefect.deployment."+dep.ID.String(), ev.Resource.ID())
				var roles []string
				for _, r := range ev.Related {
					roles = append(roles, r.Role())
				}
				require.Equal(t, []string{"flow", "work-queue", "work-pool"}, roles)
			}
		}
		f.bus.reset()

		f.clock.Set(t0.Add(80 * time.Second))
		res, err = svc.runOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, foremanResult{}, res, "each change is announced once")
	})
}

func ptr[T any](v T) *T { return &v }
