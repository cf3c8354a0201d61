package taskqueue_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
	"github.com/warden-orchestration/warden/internal/taskqueue"
)

type fixture struct {
	t     *testing.T
	store *sqlite.Store
	clock time.Time
	mu    sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "warden.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.Migrate(ctx, time.Now())
	require.NoError(t, err)
	return &fixture{t: t, store: st, clock: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// now advances a millisecond per call, so states get distinct timestamps.
func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(time.Millisecond)
	return f.clock
}

func (f *fixture) queue(size int) *taskqueue.Queue {
	return taskqueue.New(f.store, taskqueue.Options{ScheduledSize: size, Now: f.now})
}

// machine orchestrates like the API does; q may be nil (a run stored while
// no queue was listening, e.g. before a restart).
func (f *fixture) machine(q *taskqueue.Queue) *runstate.Machine {
	return &runstate.Machine{Store: f.store, Now: f.now, Tasks: q}
}

// delay creates a task run of key and schedules it deferred, as task.delay()
// does, through the orchestration rules.
func (f *fixture) delay(m *runstate.Machine, key string) uuid.UUID {
	f.t.Helper()
	ctx := context.Background()
	tr, _, err := f.store.TaskRunCreate(ctx, &storage.TaskRunCreateParams{
		Run: apitype.TaskRun{ID: uuid.New(), Name: "t", TaskKey: key, DynamicKey: uuid.NewString()}, Now: f.now(),
	}, nil)
	require.NoError(f.t, err)
	f.setState(m, tr.ID, apitype.StateTypeScheduled, true)
	return tr.ID
}

func (f *fixture) setState(m *runstate.Machine, id uuid.UUID, typ apitype.StateType, deferred bool) {
	f.t.Helper()
	st, err := apitype.StateCreate{Type: typ, StateDetails: apitype.StateDetails{Deferred: deferred}}.ToState(uuid.New(), f.now())
	require.NoError(f.t, err)
	res, err := m.SetTaskRunState(context.Background(), id, runstate.Transition{Proposed: st, Force: true})
	require.NoError(f.t, err)
	require.Equal(f.t, apitype.SetStateStatusAccept, res.Status)
}

func next(t *testing.T, q *taskqueue.Queue, keys ...string) *taskqueue.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := q.Next(ctx, keys)
	require.NoError(t, err)
	return l
}

// requireEmpty asserts Next finds nothing: it must give up with the
// context's error rather than return a run.
func requireEmpty(t *testing.T, q *taskqueue.Queue, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	l, err := q.Next(ctx, keys)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Nil(t, l)
}

func TestQueueDeliversEachRunOnceAcrossSubscribers(t *testing.T) {
	f := newFixture(t)
	q := f.queue(0)
	m := f.machine(q)
	ids := map[uuid.UUID]bool{}
	for range 6 {
		ids[f.delay(m, "k")] = true
	}
	got := make(chan uuid.UUID, 12)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				l, err := q.Next(context.Background(), []string{"k"})
				if err != nil {
					return
				}
				got <- l.Run.ID
				q.Ack(l)
			}
		}()
	}
	wg.Wait()
	close(got)
	seen := map[uuid.UUID]bool{}
	for id := range got {
		require.True(t, ids[id], "unknown run")
		require.False(t, seen[id], "run delivered twice")
		seen[id] = true
	}
	require.Len(t, seen, 6)
	requireEmpty(t, q, "k")
}

func TestQueueWakesWaitingSubscriber(t *testing.T) {
	f := newFixture(t)
	q := f.queue(0)
	requireEmpty(t, q, "a", "b") // both keys restored: nothing stored
	got := make(chan *taskqueue.Lease, 1)
	go func() {
		l, err := q.Next(context.Background(), []string{"a", "b"})
		if err == nil {
			got <- l
		}
	}()
	id := f.delay(f.machine(q), "b")
	select {
	case l := <-got:
		require.Equal(t, id, l.Run.ID)
		require.Equal(t, "b", l.Key())
		require.Equal(t, apitype.StateTypeScheduled, l.Run.State.Type)
		require.True(t, l.Run.State.StateDetails.Deferred)
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber not woken")
	}
}

func TestQueueRestoresStoredRunsOldestFirst(t *testing.T) {
	f := newFixture(t)
	before := f.machine(nil) // the runs were scheduled before this queue existed
	a, b := f.delay(before, "k"), f.delay(before, "k")
	started := f.delay(before, "k")
	f.setState(before, started, apitype.StateTypeRunning, false)
	f.delay(before, "other")

	q := f.queue(0)
	c := f.delay(f.machine(q), "k") // scheduled after the restart, before any subscriber
	require.Equal(t, a, next(t, q, "k").Run.ID)
	require.Equal(t, b, next(t, q, "k").Run.ID)
	require.Equal(t, c, next(t, q, "k").Run.ID)
	requireEmpty(t, q, "k")
}

func TestQueueSkipsRunsNoLongerScheduled(t *testing.T) {
	f := newFixture(t)
	q := f.queue(0)
	m := f.machine(q)
	requireEmpty(t, q, "k")
	gone, cancelled, kept := f.delay(m, "k"), f.delay(m, "k"), f.delay(m, "k")
	require.NoError(t, f.store.TaskRunDelete(context.Background(), gone))
	f.setState(m, cancelled, apitype.StateTypeCancelled, false)
	require.Equal(t, kept, next(t, q, "k").Run.ID)
	requireEmpty(t, q, "k")
}

func TestQueueRequeuedRunComesFirstAndOnlyOnce(t *testing.T) {
	f := newFixture(t)
	q := f.queue(0)
	m := f.machine(q)
	requireEmpty(t, q, "k")
	first, second := f.delay(m, "k"), f.delay(m, "k")
	l := next(t, q, "k")
	require.Equal(t, first, l.Run.ID)
	f.delay(m, "k")
	// Scheduled again while out for delivery: not queued a second time.
	q.Enqueue("k", first, false)
	q.Requeue(l)
	q.Requeue(l) // a second requeue of the same lease is a no-op
	l = next(t, q, "k")
	require.Equal(t, first, l.Run.ID)
	q.Ack(l)
	require.Equal(t, second, next(t, q, "k").Run.ID)
}

func TestQueueRetryQueueServedFirst(t *testing.T) {
	f := newFixture(t)
	q := f.queue(0)
	m := f.machine(q)
	requireEmpty(t, q, "k")
	scheduled := f.delay(m, "k")
	retry := f.delay(m, "k")
	q.Enqueue("k", retry, true) // still queued: ignored
	l := next(t, q, "k")
	require.Equal(t, scheduled, l.Run.ID)
	q.Ack(l)
	l = next(t, q, "k")
	require.Equal(t, retry, l.Run.ID)
	q.Ack(l)
	// After delivery, a new deferred SCHEDULED state (a retry) queues it again.
	q.Enqueue("k", retry, true)
	require.Equal(t, retry, next(t, q, "k").Run.ID)
}

// A full queue drops runs from memory, not from storage: they are reloaded
// once it drains, in order, and the runs already delivered (still SCHEDULED
// until the worker reports them started) are not sent again.
func TestQueueOverflowReloadsFromStorage(t *testing.T) {
	f := newFixture(t)
	q := f.queue(2)
	m := f.machine(q)
	requireEmpty(t, q, "k")
	var want []uuid.UUID
	for range 5 {
		want = append(want, f.delay(m, "k"))
	}
	var got []uuid.UUID
	for range 5 {
		l := next(t, q, "k")
		got = append(got, l.Run.ID)
		q.Ack(l)
	}
	require.Equal(t, want, got)
	requireEmpty(t, q, "k")
}

func TestQueueNextEndsWithContext(t *testing.T) {
	f := newFixture(t)
	q := f.queue(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.Next(ctx, []string{"k"})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return")
	}
}

func TestWorkersTracksConnections(t *testing.T) {
	f := newFixture(t)
	w := f.queue(0).Workers()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w.Connect("b", []string{"k2"})
	w.Connect("a", []string{"k1", "k2"})
	w.Connect("a", []string{"k3"}) // a second socket of the same client
	require.Equal(t, []apitype.TaskWorker{
		{Identifier: "a", TaskKeys: []string{"k1", "k2", "k3"}, Timestamp: now},
		{Identifier: "b", TaskKeys: []string{"k2"}, Timestamp: now},
	}, w.List(nil, now))
	require.Equal(t, []string{"a"}, identifiers(w.List([]string{"k1", "missing"}, now)))
	require.Empty(t, w.List([]string{"missing"}, now))
	w.Disconnect("a")
	require.Equal(t, []string{"a", "b"}, identifiers(w.List(nil, now)), "a still has a socket")
	w.Disconnect("a")
	w.Disconnect("nobody")
	require.Equal(t, []string{"b"}, identifiers(w.List(nil, now)))
}

func identifiers(ws []apitype.TaskWorker) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.Identifier)
	}
	return out
}
