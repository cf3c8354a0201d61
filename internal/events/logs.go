package events

import (
	"context"
	"slices"
	"sync"

	"github.com/warden-orchestration/warden/apitype"
)

// Logs are not events, but /logs/out streams them the way /events/out
// streams events: POST /logs/ publishes each batch after it commits, and
// every live subscription whose filter matches receives it.

// LogBus carries stored logs to live /logs/out subscribers. MemoryLogBus is
// the single-replica implementation; an HA implementation fans Publish out
// across replicas. Delivery is best effort, as in Prefect: a subscriber whose
// buffer is full misses logs (they are in storage) rather than slowing
// ingest.
type LogBus interface {
	PublishLogs(ctx context.Context, logs []apitype.Log) error
	// SubscribeLogs receives published logs matching filter (nil: all);
	// buffer <= 0 means DefaultStreamBuffer.
	SubscribeLogs(filter *apitype.LogFilter, buffer int) (LogSubscription, error)
}

// LogSubscription is one /logs/out consumer.
type LogSubscription interface {
	// Logs is closed when the subscription ends (Close or the bus closing).
	Logs() <-chan apitype.Log
	// Close ends the subscription; it is idempotent.
	Close()
}

// MemoryLogBus is the in-process LogBus.
type MemoryLogBus struct {
	mu     sync.RWMutex
	subs   map[*memoryLogSub]struct{}
	closed bool
}

var _ LogBus = (*MemoryLogBus)(nil)

// NewMemoryLogBus returns an empty log bus.
func NewMemoryLogBus() *MemoryLogBus {
	return &MemoryLogBus{subs: map[*memoryLogSub]struct{}{}}
}

type memoryLogSub struct {
	bus    *MemoryLogBus
	filter *apitype.LogFilter
	ch     chan apitype.Log
}

// PublishLogs implements LogBus. It never blocks on a subscriber.
func (b *MemoryLogBus) PublishLogs(_ context.Context, logs []apitype.Log) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrBusClosed
	}
	for s := range b.subs {
		for i := range logs {
			if !MatchLog(&logs[i], s.filter) {
				continue
			}
			select {
			case s.ch <- logs[i]:
			default: // full: this subscriber misses the log, as in Prefect
			}
		}
	}
	return nil
}

// SubscribeLogs implements LogBus.
func (b *MemoryLogBus) SubscribeLogs(filter *apitype.LogFilter, buffer int) (LogSubscription, error) {
	if buffer <= 0 {
		buffer = DefaultStreamBuffer
	}
	s := &memoryLogSub{bus: b, filter: filter, ch: make(chan apitype.Log, buffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBusClosed
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// Close ends every subscription; later publishes fail with ErrBusClosed.
func (b *MemoryLogBus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}

func (s *memoryLogSub) Logs() <-chan apitype.Log { return s.ch }

// Close implements LogSubscription. Publishers hold the read lock while
// sending, so the channel is never closed under a send.
func (s *memoryLogSub) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.ch)
	}
}

// MatchLog reports whether l passes f the way Prefect's live log stream
// checks it: level and timestamp bounds (inclusive), flow_run_id any_,
// task_run_id any_ and is_null_. Like Prefect's stream, it ignores the text
// search and the operator (all criteria must hold).
func MatchLog(l *apitype.Log, f *apitype.LogFilter) bool {
	if f == nil {
		return true
	}
	if lv := f.Level; lv != nil {
		if lv.Ge != nil && l.Level < *lv.Ge {
			return false
		}
		if lv.Le != nil && l.Level > *lv.Le {
			return false
		}
	}
	if ts := f.Timestamp; ts != nil {
		if ts.Before != nil && l.Timestamp.After(*ts.Before) {
			return false
		}
		if ts.After != nil && l.Timestamp.Before(*ts.After) {
			return false
		}
	}
	if fr := f.FlowRunID; fr != nil && fr.Any != nil {
		if l.FlowRunID == nil || !slices.Contains(fr.Any, *l.FlowRunID) {
			return false
		}
	}
	if tr := f.TaskRunID; tr != nil {
		if tr.Any != nil && (l.TaskRunID == nil || !slices.Contains(tr.Any, *l.TaskRunID)) {
			return false
		}
		if tr.IsNull != nil && *tr.IsNull != (l.TaskRunID == nil) {
			return false
		}
	}
	return true
}
