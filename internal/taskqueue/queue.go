// Package taskqueue serves deferred task runs (task.delay()) to the task
// workers subscribed to /task_runs/subscriptions/scheduled.
//
// Like Prefect's server/task_queue.py, runs wait in memory, one scheduled and
// one retry queue per task key, and each run is handed to exactly one
// subscriber. Unlike Prefect, memory is not the only copy: a deferred run is
// stored SCHEDULED before it is queued, so the queue reloads from storage
// the runs it does not hold — after a restart (the first subscription of a
// key) and after an enqueue was dropped because the key's queue was full —
// instead of blocking the request that scheduled it or losing the run.
package taskqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Prefect's defaults for server.tasks.scheduling.max_scheduled_queue_size
// and max_retry_queue_size.
const (
	DefaultScheduledSize = 1000
	DefaultRetrySize     = 100
)

// Delivered runs stay SCHEDULED in storage until the worker reports it
// started them (an event, recorded asynchronously), so a reload must not
// resend them. Deliveries are remembered for ackMemory, at most ackMemoryMax
// per key: a worker takes a run only when it has a free slot, so the runs
// acknowledged but not yet started are few.
const (
	ackMemory    = 10 * time.Minute
	ackMemoryMax = 10000
)

// Store is what the queue reads: the run to deliver, and the runs to reload.
type Store interface {
	TaskRunGet(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error)
	storage.TaskQueueStore
}

// Options configures New.
type Options struct {
	ScheduledSize int // per task key; <= 0 means DefaultScheduledSize
	RetrySize     int // per task key; <= 0 means DefaultRetrySize
	Logger        *slog.Logger
	Now           func() time.Time // nil → time.Now
}

// Queue is safe for concurrent use. The zero value is not usable; call New.
type Queue struct {
	store   Store
	opts    Options
	workers *Workers

	mu   sync.Mutex
	keys map[string]*keyQueue
}

// keyQueue holds one task key's runs. Every id is in at most one of
// queued (scheduled or retry), leased and acked.
type keyQueue struct {
	scheduled, retry []uuid.UUID
	queued           map[uuid.UUID]struct{}
	leased           map[uuid.UUID]struct{} // sent, awaiting the ack
	acked            map[uuid.UUID]time.Time
	ackOrder         []ackEntry
	restored         bool   // storage was read since start
	spilled          bool   // storage may hold runs memory dropped
	drops            uint64 // enqueues dropped for size, ever: a load that overlaps one must not clear spilled
	loading          bool
	waiters          map[chan struct{}]struct{}
}

type ackEntry struct {
	id uuid.UUID
	at time.Time
}

// Lease is one run handed to one subscriber: Ack it once the worker
// acknowledged it, or Requeue it when the worker did not take it.
type Lease struct {
	Run *apitype.TaskRun
	key string
}

// New returns an empty queue over store.
func New(store Store, opts Options) *Queue {
	if opts.ScheduledSize <= 0 {
		opts.ScheduledSize = DefaultScheduledSize
	}
	if opts.RetrySize <= 0 {
		opts.RetrySize = DefaultRetrySize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Queue{store: store, opts: opts, keys: map[string]*keyQueue{}, workers: newWorkers()}
}

// Workers tracks the connected task workers (/task_workers/filter).
func (q *Queue) Workers() *Workers { return q.workers }

func (q *Queue) key(k string) *keyQueue {
	kq := q.keys[k]
	if kq == nil {
		kq = &keyQueue{queued: map[uuid.UUID]struct{}{}, leased: map[uuid.UUID]struct{}{},
			acked: map[uuid.UUID]time.Time{}, waiters: map[chan struct{}]struct{}{}}
		q.keys[k] = kq
	}
	return kq
}

// Enqueue queues a run that has just committed a deferred SCHEDULED state;
// retry selects the retry queue, served first. A run already queued or out
// for delivery is not queued twice. It never blocks: when the key's queue is
// full the run stays in storage only, to be reloaded once the queue drains.
func (q *Queue) Enqueue(taskKey string, id uuid.UUID, retry bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kq := q.key(taskKey)
	if _, ok := kq.queued[id]; ok {
		return
	}
	if _, ok := kq.leased[id]; ok {
		return
	}
	// Scheduled again after a delivery (a retry): a new delivery is due.
	delete(kq.acked, id)
	list, size := &kq.scheduled, q.opts.ScheduledSize
	if retry {
		list, size = &kq.retry, q.opts.RetrySize
	}
	if len(*list) >= size {
		kq.spilled = true
		kq.drops++
		q.opts.Logger.Debug("task queue full, run left in storage", slog.String("task_key", taskKey))
		return
	}
	*list = append(*list, id)
	kq.queued[id] = struct{}{}
	kq.notify()
}

// Next blocks until a run of one of keys is available and returns it leased
// to the caller. Keys are served in order, each one's retries first, as
// Prefect's MultiQueue does. Runs that are no longer SCHEDULED (started,
// cancelled, deleted) are dropped rather than delivered. It returns ctx's
// error when ctx ends, or a storage error.
func (q *Queue) Next(ctx context.Context, keys []string) (*Lease, error) {
	wake := make(chan struct{}, 1)
	for {
		q.mu.Lock()
		key, id, load := q.takeLocked(keys)
		if key == "" && load == "" {
			for _, k := range keys {
				q.keys[k].waiters[wake] = struct{}{}
			}
		}
		q.mu.Unlock()

		switch {
		case key != "":
			lease, err := q.check(ctx, key, id)
			if err != nil || lease != nil {
				return lease, err
			}
		case load != "":
			if err := q.load(ctx, load); err != nil {
				return nil, err
			}
		default:
			select {
			case <-wake:
			case <-ctx.Done():
			}
			q.mu.Lock()
			for _, k := range keys {
				delete(q.keys[k].waiters, wake)
			}
			q.mu.Unlock()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
}

// takeLocked pops the next run (leasing it), or names a key to reload from
// storage first: one not read since start, or a spilled one whose memory
// queues are empty. Both empty means wait.
func (q *Queue) takeLocked(keys []string) (key string, id uuid.UUID, load string) {
	for _, k := range keys {
		if kq := q.key(k); !kq.restored && !kq.loading {
			kq.loading = true
			return "", uuid.Nil, k
		}
	}
	for _, k := range keys {
		kq := q.keys[k]
		for _, list := range []*[]uuid.UUID{&kq.retry, &kq.scheduled} {
			if len(*list) > 0 {
				id = (*list)[0]
				(*list)[0] = uuid.Nil
				*list = (*list)[1:]
				delete(kq.queued, id)
				kq.leased[id] = struct{}{}
				return k, id, ""
			}
		}
	}
	for _, k := range keys {
		if kq := q.keys[k]; kq.spilled && !kq.loading {
			kq.loading = true
			return "", uuid.Nil, k
		}
	}
	return "", uuid.Nil, ""
}

// check reads the leased run; one that is gone or no longer SCHEDULED is
// dropped (nil lease, nil error).
func (q *Queue) check(ctx context.Context, key string, id uuid.UUID) (*Lease, error) {
	tr, err := q.store.TaskRunGet(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (tr.State == nil || tr.State.Type != apitype.StateTypeScheduled)) {
		q.release(key, id)
		return nil, nil
	}
	if err != nil {
		q.Requeue(&Lease{Run: &apitype.TaskRun{ID: id}, key: key})
		return nil, fmt.Errorf("read task run: %w", err)
	}
	return &Lease{Run: tr, key: key}, nil
}

// load reads the key's SCHEDULED deferred runs from storage and queues the
// ones memory does not know. Reloaded runs are older than what Enqueue added
// meanwhile, so they go first.
func (q *Queue) load(ctx context.Context, key string) error {
	q.mu.Lock()
	kq := q.keys[key]
	q.pruneAcksLocked(kq)
	limit := q.opts.ScheduledSize + len(kq.leased) + len(kq.acked)
	drops := kq.drops
	q.mu.Unlock()

	ids, err := q.store.ScheduledDeferredTaskRuns(ctx, key, limit)

	q.mu.Lock()
	defer q.mu.Unlock()
	kq.loading = false
	defer kq.notify() // waiters may now take a run, or load themselves after an error
	if err != nil {
		return fmt.Errorf("reload task queue: %w", err)
	}
	fresh := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		_, queued := kq.queued[id]
		_, leased := kq.leased[id]
		_, acked := kq.acked[id]
		if !queued && !leased && !acked {
			fresh = append(fresh, id)
			kq.queued[id] = struct{}{}
		}
	}
	kq.scheduled = append(fresh, kq.scheduled...)
	kq.restored = true
	// A full page may have left runs behind: read again once this drains.
	kq.spilled = len(ids) == limit || kq.drops != drops
	if len(fresh) > 0 {
		q.opts.Logger.Info("task runs reloaded from storage", slog.String("task_key", key), slog.Int("runs", len(fresh)))
	}
	return nil
}

// Ack records that the worker took the run.
func (q *Queue) Ack(l *Lease) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kq := q.keys[l.key]
	if _, ok := kq.leased[l.Run.ID]; !ok {
		return
	}
	delete(kq.leased, l.Run.ID)
	now := q.opts.Now()
	kq.acked[l.Run.ID] = now
	kq.ackOrder = append(kq.ackOrder, ackEntry{id: l.Run.ID, at: now})
	q.pruneAcksLocked(kq)
}

// Requeue puts a run the worker did not take at the end of the retry queue
// (Prefect's behaviour when a send fails), regardless of its size: at most
// one run per subscriber comes back this way.
func (q *Queue) Requeue(l *Lease) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kq := q.keys[l.key]
	if _, ok := kq.leased[l.Run.ID]; !ok {
		return
	}
	delete(kq.leased, l.Run.ID)
	kq.retry = append(kq.retry, l.Run.ID)
	kq.queued[l.Run.ID] = struct{}{}
	kq.notify()
}

// release forgets a leased run that will not be delivered.
func (q *Queue) release(key string, id uuid.UUID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.keys[key].leased, id)
}

func (q *Queue) pruneAcksLocked(kq *keyQueue) {
	cutoff := q.opts.Now().Add(-ackMemory)
	n := 0
	for n < len(kq.ackOrder) && (kq.ackOrder[n].at.Before(cutoff) || len(kq.ackOrder)-n > ackMemoryMax) {
		e := kq.ackOrder[n]
		if at, ok := kq.acked[e.id]; ok && at.Equal(e.at) {
			delete(kq.acked, e.id)
		}
		n++
	}
	kq.ackOrder = kq.ackOrder[n:]
}

// notify wakes the subscribers waiting on this key; each re-checks.
func (kq *keyQueue) notify() {
	for w := range kq.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Key returns the task key the lease was served from.
func (l *Lease) Key() string { return l.key }
