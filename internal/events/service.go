package events

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/warden-orchestration/warden/internal/storage"
)

// Limits are Prefect's server.events.* validation limits; zero fields take
// Prefect's defaults.
type Limits struct {
	MaxNameLength int // server.events.maximum_event_name_length (1024)
	MaxLabels     int // server.events.maximum_labels_per_resource (500)
	MaxRelated    int // server.events.maximum_related_resources (100)
	MaxSizeBytes  int // server.events.maximum_size_bytes (1500000)
}

func (l Limits) maxNameLength() int { return orDefault(l.MaxNameLength, 1024) }
func (l Limits) maxLabels() int     { return orDefault(l.MaxLabels, 500) }
func (l Limits) maxRelated() int    { return orDefault(l.MaxRelated, 100) }

// MaxSize is the largest accepted event, in bytes of JSON.
func (l Limits) MaxSize() int { return orDefault(l.MaxSizeBytes, 1_500_000) }

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Options configure a Service.
type Options struct {
	// Bus is the bus to use; nil creates (and owns) a MemoryBus.
	Bus       Bus
	Persister PersisterOptions
	Limits    Limits
	Stream    StreamOptions
	Logger    *slog.Logger
	// TaskRuns, when non-nil, runs the task-run recorder over it on its own
	// durable subscription (server.services.task_run_recorder.enabled).
	TaskRuns storage.TaskRunRecordStore
	Recorder RecorderOptions
}

// StreamOptions shape /events/out backfills; zero fields take Prefect's
// defaults.
type StreamOptions struct {
	// MaxBackfill is server.events.maximum_websocket_backfill (15 min).
	MaxBackfill time.Duration
	// BackfillPageSize is server.events.websocket_backfill_page_size (250).
	BackfillPageSize int
	// Buffer is each stream subscription's buffer (DefaultStreamBuffer).
	Buffer int
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.MaxBackfill <= 0 {
		o.MaxBackfill = 15 * time.Minute
	}
	o.BackfillPageSize = orDefault(o.BackfillPageSize, 250)
	o.Buffer = orDefault(o.Buffer, DefaultStreamBuffer)
	return o
}

// Service is one server's event pipeline: the bus plus the persister draining
// a durable subscription of it into storage (and, when Options.TaskRuns is
// set, the task-run recorder draining another). The server starts one at boot
// and closes it (flushing buffered events) before closing the store.
type Service struct {
	bus       Bus
	owned     *MemoryBus
	sub       Subscription
	persister *Persister
	recorder  *Recorder // nil when disabled
	recSub    Subscription
	recDone   chan struct{}
	recErr    error
	limits    Limits
	stream    StreamOptions
	done      chan struct{}
	err       error
	cancel    context.CancelFunc
}

// Start subscribes the persister to the bus and runs it in the background.
func Start(store storage.EventStore, opts Options) (*Service, error) {
	if opts.Persister.Logger == nil {
		opts.Persister.Logger = opts.Logger
	}
	s := &Service{bus: opts.Bus, limits: opts.Limits, stream: opts.Stream.withDefaults(), done: make(chan struct{})}
	if s.bus == nil {
		s.owned = NewMemoryBus()
		s.bus = s.owned
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	sub, err := s.bus.Subscribe(ctx, SubscribeOptions{Durable: true})
	if err != nil {
		cancel()
		return nil, err
	}
	s.sub = sub
	if opts.TaskRuns != nil {
		if s.recSub, err = s.bus.Subscribe(ctx, RecorderSubscription()); err != nil {
			cancel()
			return nil, err
		}
		if opts.Recorder.Logger == nil {
			opts.Recorder.Logger = opts.Logger
		}
		s.recorder = NewRecorder(opts.TaskRuns, opts.Recorder)
		s.recDone = make(chan struct{})
		go func() {
			defer close(s.recDone)
			s.recErr = s.recorder.Run(ctx, s.recSub)
		}()
	}
	s.persister = NewPersister(store, opts.Persister)
	go func() {
		defer close(s.done)
		s.err = s.persister.Run(ctx, sub)
	}()
	return s, nil
}

// Bus is the service's bus: publish received events and subscribe here.
func (s *Service) Bus() Bus { return s.bus }

// Limits are the validation limits ingest applies.
func (s *Service) Limits() Limits { return s.limits }

// Stream is the /events/out configuration.
func (s *Service) Stream() StreamOptions { return s.stream }

// Flush returns once every event published before the call is in storage.
func (s *Service) Flush(ctx context.Context) error { return s.persister.Flush(ctx) }

// FlushTaskRuns returns once every task-run event published before the
// call is recorded (or waits for its flow run); a no-op without a recorder.
func (s *Service) FlushTaskRuns(ctx context.Context) error {
	if s.recorder == nil {
		return nil
	}
	return s.recorder.Flush(ctx)
}

// Close stops taking events, writes what is buffered, and stops the
// persister and the recorder; ctx bounds the wait. It closes the bus only if
// it owns it.
func (s *Service) Close(ctx context.Context) error {
	if s.owned != nil {
		s.owned.Close()
	} else {
		s.sub.Close()
		if s.recSub != nil {
			s.recSub.Close()
		}
	}
	for _, done := range []chan struct{}{s.done, s.recDone} {
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-ctx.Done():
			s.cancel()
			<-done
		}
	}
	s.cancel()
	err := errors.Join(s.err, s.recErr)
	if errors.Is(s.err, context.Canceled) || errors.Is(s.recErr, context.Canceled) {
		return ctx.Err()
	}
	return err
}
