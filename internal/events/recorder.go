package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// TaskRunEventPrefix selects the events the recorder consumes (Prefect's
// TaskRunRecorder matches the same prefix).
const TaskRunEventPrefix = "prefect.task-run"

// DefaultRecordRetryFor is how long the records of a task run whose flow run
// does not exist yet are retried before they are given up (logged): about
// Prefect's five retries at its 5 s flush interval, doubled.
const DefaultRecordRetryFor = time.Minute

// recordRetryEvery paces the retries of those records.
const recordRetryEvery = time.Second

// recordAttempts bounds the retries of a failing batch; then each record is
// tried on its own, so one poisoned event cannot take its batch down.
const recordAttempts = 5

// RecorderOptions tune a Recorder.
type RecorderOptions struct {
	BatchSize     int           // 0: DefaultBatchSize
	FlushInterval time.Duration // 0: DefaultFlushInterval
	RetryFor      time.Duration // 0: DefaultRecordRetryFor
	Logger        *slog.Logger  // nil discards
	Now           func() time.Time
}

// Recorder is Prefect's TaskRunRecorder: it turns the client's
// prefect.task-run.<State> events (the SDK orchestrates task runs itself)
// into task_run and task_run_state rows. It drains a durable subscription in
// batches, one transaction each; storage makes the writes idempotent and
// order-independent, so redelivered and late events are harmless.
type Recorder struct {
	store    storage.TaskRunRecordStore
	opts     RecorderOptions
	flushReq chan chan error
	done     chan struct{}
}

// pendingRecord is a decoded event waiting to be written.
type pendingRecord struct {
	rec     storage.TaskRunRecord
	eventID uuid.UUID
	since   time.Time // first attempt, for RetryFor
}

// NewRecorder returns a recorder over store; start it with Run on a
// subscription made with RecorderSubscription.
func NewRecorder(store storage.TaskRunRecordStore, opts RecorderOptions) *Recorder {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = DefaultRecordRetryFor
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Recorder{store: store, opts: opts, flushReq: make(chan chan error), done: make(chan struct{})}
}

// RecorderSubscription is the subscription the recorder needs: durable (it
// must see every event) and limited to task-run events.
func RecorderSubscription() SubscribeOptions {
	return SubscribeOptions{Durable: true, Filter: &apitype.EventFilter{
		Event: &apitype.EventNameFilter{Prefix: []string{TaskRunEventPrefix}}}}
}

// Run consumes sub until its channel closes (everything buffered is written
// first) or ctx ends (what is buffered is still written, under a fresh
// deadline). Call it once.
func (r *Recorder) Run(ctx context.Context, sub Subscription) error {
	defer close(r.done)
	ch := sub.Events()
	var (
		batch, waiting []pendingRecord
		timer, retry   *time.Timer
		tick, retryC   <-chan time.Time
	)
	// write stores the batch plus the waiting records; those whose flow run
	// is still missing wait again.
	write := func(ctx context.Context, final bool) error {
		if timer != nil {
			timer.Stop()
			timer, tick = nil, nil
		}
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		recs := append(waiting, batch...)
		batch, waiting = nil, nil
		if len(recs) == 0 {
			return nil
		}
		var err error
		waiting, err = r.write(ctx, recs, final)
		if len(waiting) > 0 {
			retry = time.NewTimer(recordRetryEvery)
			retryC = retry.C
		}
		return err
	}
	add := func(e apitype.ReceivedEvent) {
		rec, ok, err := TaskRunRecordFromEvent(&e)
		if err != nil {
			r.opts.Logger.Warn("task run event skipped", slog.String("event_id", e.ID.String()), slog.Any("err", err))
			return
		}
		if !ok {
			return
		}
		batch = append(batch, pendingRecord{rec: rec, eventID: e.ID, since: r.opts.Now()})
		if len(batch) >= r.opts.BatchSize {
			_ = write(ctx, false)
		} else if timer == nil {
			timer = time.NewTimer(r.opts.FlushInterval)
			tick = timer.C
		}
	}
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
				return write(context.WithoutCancel(ctx), true)
			}
			add(e)
		case <-tick:
			timer, tick = nil, nil
			_ = write(ctx, false)
		case <-retryC:
			retry, retryC = nil, nil
			_ = write(ctx, false)
		case reply := <-r.flushReq:
			open := drain()
			reply <- write(ctx, !open)
			if !open {
				return nil
			}
		case <-ctx.Done():
			drain()
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := write(wctx, true)
			cancel()
			return errors.Join(ctx.Err(), err)
		}
	}
}

// Flush returns once every event buffered in the subscription when it was
// called has been written, or is waiting for its flow run. After Run
// returned it is a no-op.
func (r *Recorder) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.flushReq <- reply:
	case <-r.done:
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

// write stores recs and returns those to retry later (flow run missing,
// within RetryFor; none when final). A failing batch is retried with a
// backoff, then split, so only the records that fail alone are dropped.
func (r *Recorder) write(ctx context.Context, recs []pendingRecord, final bool) ([]pendingRecord, error) {
	records := make([]storage.TaskRunRecord, len(recs))
	for i := range recs {
		records[i] = recs[i].rec
	}
	var err error
	for attempt := range recordAttempts {
		var missing []int
		if missing, err = r.store.TaskRunRecordMany(ctx, records, r.opts.Now()); err == nil {
			r.opts.Logger.Debug("task run events recorded", slog.Int("events", len(recs)-len(missing)))
			return r.keepMissing(recs, missing, final), nil
		}
		if attempt == recordAttempts-1 || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Duration(50<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if len(recs) == 1 || ctx.Err() != nil {
		for _, p := range recs {
			r.opts.Logger.Error("task run event dropped: recording failed", slog.String("event_id", p.eventID.String()), slog.Any("err", err))
		}
		return nil, fmt.Errorf("record task runs: %w", err)
	}
	var (
		keep []pendingRecord
		errs []error
	)
	for i := range recs {
		missing, err := r.store.TaskRunRecordMany(ctx, records[i:i+1], r.opts.Now())
		if err != nil {
			r.opts.Logger.Error("task run event dropped: recording failed", slog.String("event_id", recs[i].eventID.String()), slog.Any("err", err))
			errs = append(errs, err)
			continue
		}
		keep = append(keep, r.keepMissing(recs[i:i+1], missing, final)...)
	}
	if len(errs) > 0 {
		return keep, fmt.Errorf("record task runs: %w", errors.Join(errs...))
	}
	return keep, nil
}

// keepMissing returns the records of recs at indexes missing that may still
// wait for their flow run, and logs the ones given up.
func (r *Recorder) keepMissing(recs []pendingRecord, missing []int, final bool) []pendingRecord {
	var keep []pendingRecord
	now := r.opts.Now()
	for _, i := range missing {
		p := recs[i]
		if final || now.Sub(p.since) >= r.opts.RetryFor {
			r.opts.Logger.Warn("task run event dropped: its flow run does not exist",
				slog.String("event_id", p.eventID.String()), slog.String("flow_run_id", p.rec.Run.FlowRunID.String()))
			continue
		}
		keep = append(keep, p)
	}
	return keep
}

// TaskRunRecordFromEvent decodes a client task-run state event the way
// Prefect's recorder does: the run's id from the resource, its flow run
// from the related resource in role flow-run, its columns from
// payload.task_run, the state from payload.validated_state with the event's
// id and occurred time. ok is false for events the recorder ignores (not a
// task-run event, or not client-orchestrated); err reports a malformed one.
func TaskRunRecordFromEvent(e *apitype.ReceivedEvent) (rec storage.TaskRunRecord, ok bool, err error) {
	if !strings.HasPrefix(e.Event.Event, TaskRunEventPrefix) || e.Resource["prefect.orchestration"] != "client" {
		return rec, false, nil
	}
	id, err := prefectObjectID(e.Resource.ID(), "prefect.task-run.")
	if err != nil {
		return rec, false, err
	}
	var flowRunID *uuid.UUID
	for _, rel := range e.Related {
		if rel.Role() == "flow-run" {
			frID, err := prefectObjectID(rel.ID(), "prefect.flow-run.")
			if err != nil {
				return rec, false, err
			}
			flowRunID = &frID
			break
		}
	}
	var payload struct {
		ValidatedState *struct {
			Type         apitype.StateType    `json:"type"`
			Name         *string              `json:"name"`
			Message      *string              `json:"message"`
			StateDetails apitype.StateDetails `json:"state_details"`
			Data         json.RawMessage      `json:"data"`
		} `json:"validated_state"`
		TaskRun map[string]json.RawMessage `json:"task_run"`
	}
	if err := json.Unmarshal(e.Payload, &payload); err != nil {
		return rec, false, fmt.Errorf("decode payload: %w", err)
	}
	vs := payload.ValidatedState
	if vs == nil || payload.TaskRun == nil {
		return rec, false, errors.New("payload lacks validated_state or task_run")
	}
	if !vs.Type.Valid() {
		return rec, false, fmt.Errorf("invalid state type %q", vs.Type)
	}
	fields := storage.TaskRunFields(0)
	present := map[string]json.RawMessage{}
	for k, v := range payload.TaskRun {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue // the SDK omits nulls; an explicit one is no value either
		}
		if f, known := storage.TaskRunFieldsByJSON[k]; known {
			fields |= f
			present[k] = v
		}
	}
	for _, k := range []string{"task_key", "dynamic_key"} {
		v, has := payload.TaskRun[k]
		if !has || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return rec, false, fmt.Errorf("payload.task_run lacks %s", k)
		}
		present[k] = v
	}
	clean, err := json.Marshal(present)
	if err != nil {
		return rec, false, err
	}
	var run apitype.TaskRun
	if err := json.Unmarshal(clean, &run); err != nil {
		return rec, false, fmt.Errorf("decode payload.task_run: %w", err)
	}
	run.ID, run.FlowRunID = id, flowRunID
	state := apitype.State{ID: e.ID, Type: vs.Type, Timestamp: e.Occurred.UTC(), Message: vs.Message,
		StateDetails: vs.StateDetails, Data: vs.Data}
	if vs.Name != nil {
		state.Name = *vs.Name
	} else {
		state.Name = vs.Type.DefaultName()
	}
	if bytes.Equal(bytes.TrimSpace(state.Data), []byte("null")) {
		state.Data = nil
	}
	return storage.TaskRunRecord{Run: run, Fields: fields, State: state}, true, nil
}

// prefectObjectID parses "<prefix><uuid>" resource ids.
func prefectObjectID(resourceID, prefix string) (uuid.UUID, error) {
	rest, found := strings.CutPrefix(resourceID, prefix)
	if !found {
		return uuid.Nil, fmt.Errorf("resource id %q is not a %s<id>", resourceID, prefix)
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		return uuid.Nil, fmt.Errorf("resource id %q: %w", resourceID, err)
	}
	return id, nil
}
