package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Persister defaults: a batch is written when it reaches DefaultBatchSize
// events or DefaultFlushInterval after its first event, whichever is first.
const (
	DefaultBatchSize     = 500
	DefaultFlushInterval = 100 * time.Millisecond
)

// writeAttempts bounds the retries of a failing batch before it is dropped
// (and logged): a poisoned batch must not wedge the pipeline.
const writeAttempts = 3

// PersisterOptions tune a Persister.
type PersisterOptions struct {
	BatchSize     int           // 0: DefaultBatchSize
	FlushInterval time.Duration // 0: DefaultFlushInterval
	Logger        *slog.Logger  // nil discards
	Now           func() time.Time
}

// Persister writes the events of a durable subscription to storage in
// batches: one transaction per batch, idempotent on event id (so redelivery
// after a client reconnect is harmless). Other consumers, such as the
// task-run recorder, take their own durable subscription on the same bus.
type Persister struct {
	store    storage.EventStore
	opts     PersisterOptions
	flushReq chan chan error
	done     chan struct{}
}

// NewPersister returns a persister over store; start it with Run.
func NewPersister(store storage.EventStore, opts PersisterOptions) *Persister {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Persister{store: store, opts: opts, flushReq: make(chan chan error), done: make(chan struct{})}
}

// Run consumes sub until its channel closes (everything buffered is written
// first) or ctx ends (what is already buffered is still written, under a
// fresh deadline). Call it once.
func (p *Persister) Run(ctx context.Context, sub Subscription) error {
	defer close(p.done)
	ch := sub.Events()
	var (
		batch []apitype.ReceivedEvent
		timer *time.Timer
		tick  <-chan time.Time
	)
	write := func(ctx context.Context) error {
		if timer != nil {
			timer.Stop()
			timer, tick = nil, nil
		}
		if len(batch) == 0 {
			return nil
		}
		err := p.write(ctx, batch)
		batch = batch[:0]
		return err
	}
	add := func(e apitype.ReceivedEvent) {
		batch = append(batch, e)
		if len(batch) >= p.opts.BatchSize {
			_ = write(ctx)
		} else if timer == nil {
			timer = time.NewTimer(p.opts.FlushInterval)
			tick = timer.C
		}
	}
	// drain takes whatever is buffered without waiting; false once closed.
	drain := func() bool {
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					return false
				}
				add(e)
			default:
				return true
			}
		}
	}
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return write(context.WithoutCancel(ctx))
			}
			add(e)
		case <-tick:
			timer, tick = nil, nil
			_ = write(ctx)
		case reply := <-p.flushReq:
			open := drain()
			reply <- write(ctx)
			if !open {
				return nil
			}
		case <-ctx.Done():
			drain()
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := write(wctx)
			cancel()
			return errors.Join(ctx.Err(), err)
		}
	}
}

// Flush returns once every event buffered in the subscription when it was
// called has been written (or the write failed). After Run returned it is a
// no-op.
func (p *Persister) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case p.flushReq <- reply:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write stores one batch, retrying a failure with a short backoff.
func (p *Persister) write(ctx context.Context, batch []apitype.ReceivedEvent) error {
	var err error
	for attempt := range writeAttempts {
		var n int
		n, err = p.store.EventInsert(ctx, batch, p.opts.Now())
		if err == nil {
			p.opts.Logger.Debug("events persisted", slog.Int("received", len(batch)), slog.Int("new", n))
			return nil
		}
		if attempt == writeAttempts-1 || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Duration(50<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	p.opts.Logger.Error("events dropped: persisting failed", slog.Int("events", len(batch)), slog.Any("err", err))
	return fmt.Errorf("persist events: %w", err)
}
