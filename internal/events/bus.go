// Package events is Warden's event pipeline: the bus received events are
// published on, the matching of an EventFilter against one event, and the
// persister that writes them to storage in batches.
//
// Flow of one event: /events/in or POST /events validates and stamps it
// (apitype.ReceivedEvent), then Bus.Publish hands it to every subscription.
// Durable subscriptions (the persister, later the task-run recorder) see every
// event and slow the publisher down when they fall behind; stream
// subscriptions (/events/out) are lossy and are closed when they fall behind.
package events

import (
	"context"
	"errors"
	"sync"

	"github.com/warden-orchestration/warden/apitype"
)

// ErrSlowSubscriber ends a stream subscription whose buffer filled up: the
// consumer missed events and must resubscribe (and backfill from storage).
var ErrSlowSubscriber = errors.New("event subscriber fell behind")

// ErrBusClosed is returned by Publish and Subscribe after Close.
var ErrBusClosed = errors.New("event bus closed")

// Bus carries received events from ingest to consumers. The in-process
// MemoryBus is the single-replica implementation; an HA implementation fans
// Publish out across replicas. Its contract:
//
//   - Publish returns once every durable subscription of this replica has
//     the events buffered; stream subscriptions never slow it down.
//   - Stream subscriptions see matching events published on any replica.
//     Durable ones need only see events published on their own replica (each
//     replica persists what it received; storage is idempotent on event id).
//   - Per publisher, a subscription sees events in publish order.
type Bus interface {
	Publish(ctx context.Context, events []apitype.ReceivedEvent) error
	Subscribe(ctx context.Context, opts SubscribeOptions) (Subscription, error)
}

// SubscribeOptions configures one subscription.
type SubscribeOptions struct {
	// Filter selects events (Matches); nil receives everything.
	Filter *apitype.EventFilter
	// Buffer is the number of events held for the consumer; 0 means
	// DefaultStreamBuffer (stream) or DefaultDurableBuffer (durable).
	Buffer int
	// Durable subscriptions never lose events: when the buffer is full,
	// Publish waits for room. Stream subscriptions are closed with
	// ErrSlowSubscriber instead, so a stalled websocket cannot stall ingest.
	Durable bool
}

// Buffer defaults. 256 is Prefect's SUBSCRIPTION_BACKLOG; the durable default
// bounds memory at roughly Prefect's persister queue.
const (
	DefaultStreamBuffer  = 256
	DefaultDurableBuffer = 10000
)

// Subscription is one consumer's view of the bus.
type Subscription interface {
	// Events delivers matching events; it is closed when the subscription
	// ends (Close, its context ending, the bus closing, or falling behind).
	Events() <-chan apitype.ReceivedEvent
	// Err says why Events was closed: nil for Close, the context's error,
	// ErrBusClosed or ErrSlowSubscriber. It is nil while the subscription is
	// live.
	Err() error
	// Close ends the subscription; it is idempotent.
	Close()
}

// MemoryBus is the in-process Bus.
type MemoryBus struct {
	mu     sync.RWMutex
	subs   map[*memorySub]struct{}
	closed bool
}

var _ Bus = (*MemoryBus)(nil)

// NewMemoryBus returns an empty bus.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{subs: map[*memorySub]struct{}{}}
}

type memorySub struct {
	bus     *MemoryBus
	filter  *apitype.EventFilter
	durable bool
	ch      chan apitype.ReceivedEvent
	done    chan struct{} // closed first, to release a publisher waiting for room
	stop    func() bool   // unregisters the context callback

	sendMu sync.Mutex // held while sending, so ch is never closed mid-send
	ended  bool       // under sendMu
	once   sync.Once
	errMu  sync.Mutex
	err    error
}

// Subscribe implements Bus. The subscription ends when ctx does.
func (b *MemoryBus) Subscribe(ctx context.Context, opts SubscribeOptions) (Subscription, error) {
	size := opts.Buffer
	if size <= 0 {
		size = DefaultStreamBuffer
		if opts.Durable {
			size = DefaultDurableBuffer
		}
	}
	s := &memorySub{
		bus: b, filter: opts.Filter, durable: opts.Durable,
		ch: make(chan apitype.ReceivedEvent, size), done: make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrBusClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	// Under sendMu: closeLocked (also under it) reads stop.
	s.sendMu.Lock()
	s.stop = context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	s.sendMu.Unlock()
	return s, nil
}

// Publish implements Bus.
func (b *MemoryBus) Publish(ctx context.Context, events []apitype.ReceivedEvent) error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrBusClosed
	}
	// Durable subscribers first: an event a live subscriber has seen is
	// then already buffered for the persister, so a Flush after it
	// (handlers, tests) is sure to write it.
	subs := make([]*memorySub, 0, len(b.subs))
	for s := range b.subs {
		if s.durable {
			subs = append(subs, s)
		}
	}
	for s := range b.subs {
		if !s.durable {
			subs = append(subs, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range subs {
		if err := s.deliver(ctx, events); err != nil {
			return err
		}
	}
	return nil
}

// Close ends every subscription with ErrBusClosed; later calls fail.
func (b *MemoryBus) Close() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = map[*memorySub]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		s.end(ErrBusClosed)
	}
}

// Subscribers is the number of live subscriptions (for tests and metrics).
func (b *MemoryBus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

func (s *memorySub) deliver(ctx context.Context, events []apitype.ReceivedEvent) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for i := range events {
		if s.ended {
			return nil
		}
		if !Matches(s.filter, &events[i]) {
			continue
		}
		if !s.durable {
			select {
			case s.ch <- events[i]:
			default:
				s.endLocked(ErrSlowSubscriber)
			}
			continue
		}
		select {
		case s.ch <- events[i]:
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *memorySub) Events() <-chan apitype.ReceivedEvent { return s.ch }

func (s *memorySub) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *memorySub) Close() { s.end(nil) }

// end records why, releases a waiting publisher, then closes the channel
// once no publisher is sending.
func (s *memorySub) end(why error) {
	s.once.Do(func() {
		s.setErr(why)
		close(s.done)
		s.sendMu.Lock()
		s.closeLocked()
		s.sendMu.Unlock()
	})
}

// endLocked is end for a caller already holding sendMu (a publisher).
func (s *memorySub) endLocked(why error) {
	s.once.Do(func() {
		s.setErr(why)
		close(s.done)
		s.closeLocked()
	})
}

func (s *memorySub) closeLocked() {
	s.ended = true
	close(s.ch)
	if s.stop != nil {
		s.stop()
	}
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
}

func (s *memorySub) setErr(err error) {
	s.errMu.Lock()
	s.err = err
	s.errMu.Unlock()
}
