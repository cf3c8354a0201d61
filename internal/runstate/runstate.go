package runstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/taskqueue"
)

// This file is the adapter between the pure orchestration engine and
// storage: it runs the engine inside the run's orchestration transaction
// (storage.RunTx), with the transaction as the engine's Lookup, then writes
// the outcome and applies the effects in the same transaction.

// ErrUnsupportedEffect rolls back a transition whose effects Warden cannot
// apply yet, rather than pretending it applied them.
var ErrUnsupportedEffect = errors.New("orchestration effect not supported")

// Transition is one proposed state for a run, with the request context the
// rules read (the API and client versions come from request headers).
type Transition struct {
	Proposed      *apitype.State
	Force         bool
	APIVersion    string
	ClientVersion string
	// Policy replaces the default policy choice when non-nil, as Prefect's
	// services do (the late-runs service proposes with MarkLateRunsPolicy).
	Policy *orchestration.Policy
}

// Machine holds what every transition needs: the store (for event
// descriptions), the event bus, the clock and the slot waits. The API and the
// background services share one.
type Machine struct {
	Store  storage.Store
	Events events.Bus // nil publishes nothing
	Logger *slog.Logger
	Now    func() time.Time
	Waits  storage.ConcurrencyWaits
	// Tasks receives deferred task runs once their SCHEDULED state has
	// committed (task.delay()); nil leaves them in storage only.
	Tasks *taskqueue.Queue
}

// Orchestrator runs transitions inside one RunTx and remembers the events
// to emit once the transaction commits.
type Orchestrator struct {
	m      *Machine
	tx     storage.RunTx
	now    time.Time
	events []orchestration.EmitFlowRunStateChange
	tasks  []orchestration.EnqueueBackgroundTask
}

// New starts the work of one transaction; call Emit after it commits.
func (m *Machine) New(tx storage.RunTx) *Orchestrator {
	return &Orchestrator{m: m, tx: tx, now: m.Now().UTC().Truncate(time.Microsecond)}
}

// Tx is the transaction the orchestrator writes in.
func (o *Orchestrator) Tx() storage.RunTx { return o.tx }

// Now is the transition time (UTC, microseconds).
func (o *Orchestrator) Now() time.Time { return o.now }

func (o *Orchestrator) engine() *orchestration.Engine {
	return &orchestration.Engine{Lookup: txLookup{tx: o.tx, now: o.now}, Now: func() time.Time { return o.now }}
}

// SetFlowRunState governs t on a flow run and writes the outcome.
func (o *Orchestrator) SetFlowRunState(ctx context.Context, id uuid.UUID, t Transition) (*apitype.OrchestrationResult, error) {
	fr, err := o.tx.FlowRun(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := o.engine().Orchestrate(ctx, orchestration.Request{
		Run: FlowRunToRun(fr), Initial: fr.State, Proposed: t.Proposed, Force: t.Force, Policy: t.Policy,
		APIVersion: t.APIVersion, ClientVersion: t.ClientVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("orchestrate flow run: %w", err)
	}
	cols := runColumns(res.Run)
	pol := mergeFlowPolicy(fr.EmpiricalPolicy, res.Run.FlowPolicy)
	cols.FlowPolicy = &pol
	if err := o.tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: res.NewState, Columns: cols, Now: o.now}); err != nil {
		return nil, err
	}
	if err := o.apply(ctx, res.Effects); err != nil {
		return nil, err
	}
	return &res.OrchestrationResult, nil
}

// SetTaskRunState governs t on a task run and writes the outcome.
func (o *Orchestrator) SetTaskRunState(ctx context.Context, id uuid.UUID, t Transition) (*apitype.OrchestrationResult, error) {
	tr, err := o.tx.TaskRun(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := o.engine().Orchestrate(ctx, orchestration.Request{
		Run: TaskRunToRun(tr), Initial: tr.State, Proposed: t.Proposed, Force: t.Force, Policy: t.Policy,
		APIVersion: t.APIVersion, ClientVersion: t.ClientVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("orchestrate task run: %w", err)
	}
	cols := runColumns(res.Run)
	cols.FlowRunRunCount = res.Run.FlowRunRunCount
	pol := mergeTaskPolicy(tr.EmpiricalPolicy, res.Run.TaskPolicy)
	cols.TaskPolicy = &pol
	if err := o.tx.SetTaskRunState(ctx, &storage.RunStateWrite{RunID: id, State: res.NewState, Columns: cols, Now: o.now}); err != nil {
		return nil, err
	}
	if err := o.apply(ctx, res.Effects); err != nil {
		return nil, err
	}
	return &res.OrchestrationResult, nil
}

// apply performs the engine's effects in order, in the same transaction.
func (o *Orchestrator) apply(ctx context.Context, effects []orchestration.Effect) error {
	for _, e := range effects {
		switch e := e.(type) {
		case orchestration.InsertCacheEntry:
			if err := o.tx.InsertCacheEntry(ctx, &storage.CacheEntry{ID: uuid.New(), CacheKey: e.CacheKey,
				CacheExpiration: e.CacheExpiration, StateID: e.StateID, Now: o.now}); err != nil {
				return err
			}
		case orchestration.SetTaskRunState:
			// A subflow's state is mirrored onto its tracking task run.
			if err := o.tx.LockTaskRun(ctx, e.TaskRunID); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue // the parent task run was deleted
				}
				return err
			}
			if _, err := o.SetTaskRunState(ctx, e.TaskRunID, Transition{Proposed: e.State, Force: e.Force}); err != nil {
				return err
			}
		case orchestration.EmitFlowRunStateChange:
			o.events = append(o.events, e)
		case orchestration.IncrementSlots, orchestration.DecrementSlots, orchestration.CreateLease,
			orchestration.RenewLease, orchestration.RevokeLease, orchestration.ReleaseLease,
			orchestration.ReleaseHolderLeases, orchestration.AddTagSlot, orchestration.RemoveTagSlot:
			if err := o.applyConcurrency(ctx, e); err != nil {
				return err
			}
		case orchestration.DeleteFlowRunInput:
			itx, ok := o.tx.(storage.FlowRunInputTx)
			if !ok {
				return fmt.Errorf("%w: %T has no run input", ErrUnsupportedEffect, o.tx)
			}
			if err := itx.DeleteFlowRunInput(ctx, e.FlowRunID, e.Key); err != nil {
				return err
			}
		case orchestration.EnqueueBackgroundTask:
			// Queued after the commit (Emit): a task worker must not be
			// handed a run whose state could still roll back.
			o.tasks = append(o.tasks, e)
		default:
			return fmt.Errorf("%w: %T", ErrUnsupportedEffect, e)
		}
	}
	return nil
}

// Emit publishes the collected events and queues the deferred task runs;
// call it after the commit. A nil orchestrator (the transaction never ran)
// emits nothing.
func (o *Orchestrator) Emit(ctx context.Context) {
	if o == nil {
		return
	}
	for _, e := range o.events {
		fr, err := o.m.Store.FlowRunGet(ctx, e.FlowRunID)
		if err != nil {
			continue // deleted since: nothing to describe
		}
		o.m.emitFlowRunStateChange(ctx, fr, e.Initial, e.Validated)
	}
	o.events = nil
	for _, e := range o.tasks {
		if o.m.Tasks != nil {
			o.m.Tasks.Enqueue(e.TaskKey, e.TaskRunID, e.Retry)
		}
	}
	o.tasks = nil
}

// SetFlowRunState is one transition of one flow run in its own transaction,
// with the events emitted after the commit: what the background services
// use. ErrNotFound when the run does not exist.
func (m *Machine) SetFlowRunState(ctx context.Context, id uuid.UUID, t Transition) (*apitype.OrchestrationResult, error) {
	var (
		res *apitype.OrchestrationResult
		o   *Orchestrator
	)
	err := m.Store.FlowRunOrchestrate(ctx, id, func(ctx context.Context, tx storage.RunTx) error {
		o = m.New(tx)
		var err error
		res, err = o.SetFlowRunState(ctx, id, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	o.Emit(ctx)
	return res, nil
}

// SetTaskRunState is SetFlowRunState for a task run.
func (m *Machine) SetTaskRunState(ctx context.Context, id uuid.UUID, t Transition) (*apitype.OrchestrationResult, error) {
	var (
		res *apitype.OrchestrationResult
		o   *Orchestrator
	)
	err := m.Store.TaskRunOrchestrate(ctx, id, func(ctx context.Context, tx storage.RunTx) error {
		o = m.New(tx)
		var err error
		res, err = o.SetTaskRunState(ctx, id, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	o.Emit(ctx)
	return res, nil
}

// txLookup is orchestration.Lookup over the orchestration transaction; now
// is the transition's time, which limit snapshots are decayed to.
type txLookup struct {
	tx  storage.RunTx
	now time.Time
}

func (l txLookup) FlowRun(ctx context.Context, id uuid.UUID) (*orchestration.FlowRunSnapshot, error) {
	fr, err := l.tx.FlowRun(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &orchestration.FlowRunSnapshot{ID: fr.ID, State: fr.State, RunCount: fr.RunCount}, nil
}

func (l txLookup) CachedTaskRunState(ctx context.Context, key string, now time.Time) (*apitype.State, error) {
	return l.tx.CachedTaskRunState(ctx, key, now)
}

func (l txLookup) FlowRunStateTimestampTaken(ctx context.Context, flowRunID uuid.UUID, ts time.Time) (bool, error) {
	return l.tx.FlowRunStateTimestampTaken(ctx, flowRunID, ts)
}
