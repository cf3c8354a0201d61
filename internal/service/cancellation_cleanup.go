package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Defaults and messages mirror Prefect's cancellation_cleanup service.
const (
	CancellationCleanupIntervalDefault = 20 * time.Second
	CancellingTimeoutDefault           = 300 * time.Second
	// ParentCancelledMessage is set on task and subflow runs cancelled
	// because their flow run was.
	ParentCancelledMessage = "The parent flow run was cancelled."
	// CancellingTimeoutMessage is set on runs stuck in CANCELLING.
	CancellingTimeoutMessage = "Flow run cancellation timed out; marked this flow run as Cancelled."
	cancellationBatch        = 200
	// cancelledLookback: only runs cancelled in the last day are swept for
	// unfinished children, as in Prefect.
	cancelledLookback = 24 * time.Hour
)

// CancellationCleanupConfig tunes CancellationCleanup; zero fields take the defaults.
type CancellationCleanupConfig struct {
	Interval          time.Duration // server.services.cancellation_cleanup.loop_seconds
	CancellingTimeout time.Duration // server.services.cancellation_cleanup.cancelling_timeout_seconds
}

// CancellationCleanup is Prefect's cancellation cleanup: the unfinished task
// runs of a cancelled flow run are forced to CANCELLED; its unfinished
// subflow runs are cancelled (CANCELLING when a deployment's worker must
// stop their infrastructure, CANCELLED otherwise); and runs stuck in
// CANCELLING past the timeout are moved to CANCELLED.
//
// Prefect then queues a teardown message for the run's worker (its worker
// channel); Warden has no worker channel yet, so that part is not done.
type CancellationCleanup struct {
	Base
	cfg     CancellationCleanupConfig
	machine *runstate.Machine
}

// NewCancellationCleanup builds the service.
func NewCancellationCleanup(machine *runstate.Machine, cfg CancellationCleanupConfig, base Base) *CancellationCleanup {
	base.init()
	cfg.Interval = cmp.Or(cfg.Interval, CancellationCleanupIntervalDefault)
	cfg.CancellingTimeout = cmp.Or(cfg.CancellingTimeout, CancellingTimeoutDefault)
	return &CancellationCleanup{Base: base, cfg: cfg, machine: machine}
}

// Name implements Service.
func (s *CancellationCleanup) Name() string { return "cancellation_cleanup" }

// Singleton implements Service.
func (s *CancellationCleanup) Singleton() bool { return true }

// Run implements Service.
func (s *CancellationCleanup) Run(ctx context.Context) error {
	return loop(ctx, &s.Base, s.Name(), s.cfg.Interval, func(ctx context.Context) error {
		_, err := s.runOnce(ctx)
		return err
	})
}

// cleanupResult counts what one iteration changed.
type cleanupResult struct {
	taskRuns, subflowRuns, timedOut int
}

func (s *CancellationCleanup) runOnce(ctx context.Context) (cleanupResult, error) {
	var res cleanupResult
	var errs []error
	var err error
	if res.taskRuns, err = s.cancelTaskRuns(ctx); err != nil {
		errs = append(errs, err)
	}
	if res.subflowRuns, err = s.cancelSubflowRuns(ctx); err != nil {
		errs = append(errs, err)
	}
	if res.timedOut, err = s.timeOutCancelling(ctx); err != nil {
		errs = append(errs, err)
	}
	if res != (cleanupResult{}) {
		s.Logger.Info("cancellation cleanup", slog.Int("task_runs", res.taskRuns),
			slog.Int("subflow_runs", res.subflowRuns), slog.Int("timed_out", res.timedOut))
	}
	return res, errors.Join(errs...)
}

// cancelTaskRuns forces CANCELLED on the unfinished task runs of runs
// cancelled within the lookback.
func (s *CancellationCleanup) cancelTaskRuns(ctx context.Context) (int, error) {
	since := s.Now().Add(-cancelledLookback)
	n := 0
	after := uuid.Nil
	for {
		ids, err := s.machine.Store.TaskRunsOfCancelled(ctx, since, after, cancellationBatch)
		if err != nil {
			return n, fmt.Errorf("find task runs of cancelled flow runs: %w", err)
		}
		for _, id := range ids {
			ok, err := s.cancelTaskRun(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				s.Logger.Error("cancel task run", slog.String("task_run_id", id.String()), slog.Any("err", err))
				continue
			}
			if ok {
				n++
			}
		}
		if len(ids) < cancellationBatch {
			return n, nil
		}
		after = ids[len(ids)-1]
	}
}

// cancelTaskRun re-checks the task run under its lock: one that finished
// since the read keeps its state.
func (s *CancellationCleanup) cancelTaskRun(ctx context.Context, id uuid.UUID) (bool, error) {
	var o *runstate.Orchestrator
	var res *apitype.OrchestrationResult
	err := s.machine.Store.TaskRunOrchestrate(ctx, id, func(ctx context.Context, tx storage.RunTx) error {
		o = s.machine.New(tx)
		tr, err := tx.TaskRun(ctx, id)
		if err != nil {
			return err
		}
		if tr.State == nil || tr.State.Type.IsTerminal() {
			return nil
		}
		res, err = o.SetTaskRunState(ctx, id, runstate.Transition{
			Proposed: newState(apitype.StateTypeCancelled, "Cancelled", ParentCancelledMessage, o.Now()), Force: true,
		})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	o.Emit(ctx)
	return res != nil && res.Status == apitype.SetStateStatusAccept, nil
}

// cancelSubflowRuns cancels the unfinished subflow runs of cancelled runs.
func (s *CancellationCleanup) cancelSubflowRuns(ctx context.Context) (int, error) {
	n := 0
	after := uuid.Nil
	for {
		runs, err := s.machine.Store.SubflowRunsOfCancelled(ctx, after, cancellationBatch)
		if err != nil {
			return n, fmt.Errorf("find subflow runs of cancelled flow runs: %w", err)
		}
		for _, r := range runs {
			ok, err := transitionFlowRun(ctx, s.machine, r.ID, decideSubflow)
			if err != nil {
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				logTransitionError(s.Logger, "cancel subflow run", r.ID, err)
				continue
			}
			if ok {
				n++
			}
		}
		if len(runs) < cancellationBatch {
			return n, nil
		}
		after = runs[len(runs)-1].ID
	}
}

// decideSubflow re-checks, under the subflow's lock, what Prefect's
// cancel_subflow_run checks: still unfinished, and its containing flow run
// (through the parent task run) is cancelled or gone.
func decideSubflow(ctx context.Context, tx storage.RunTx, fr *apitype.FlowRun, now time.Time) (*runstate.Transition, error) {
	if fr.State == nil || fr.State.Type.IsTerminal() || fr.ParentTaskRunID == nil {
		return nil, nil
	}
	tr, err := tx.TaskRun(ctx, *fr.ParentTaskRunID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && tr.FlowRunID == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	parent, err := tx.FlowRun(ctx, *tr.FlowRunID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	case parent.State != nil && parent.State.Type != apitype.StateTypeCancelled:
		return nil, nil
	}
	if fr.DeploymentID != nil {
		if fr.State.Type == apitype.StateTypeCancelling {
			return nil, nil // its worker is already stopping it
		}
		return &runstate.Transition{Proposed: newState(apitype.StateTypeCancelling, "Cancelling", ParentCancelledMessage, now)}, nil
	}
	return &runstate.Transition{Proposed: newState(apitype.StateTypeCancelled, "Cancelled", ParentCancelledMessage, now)}, nil
}

// timeOutCancelling moves runs CANCELLING for longer than the timeout to
// CANCELLED, through the core policy. The state id read must still be the
// run's current one: a run that changed state meanwhile is left alone.
func (s *CancellationCleanup) timeOutCancelling(ctx context.Context) (int, error) {
	runs, err := s.machine.Store.FlowRunsCancelling(ctx, s.Now().Add(-s.cfg.CancellingTimeout), cancellationBatch)
	if err != nil {
		return 0, fmt.Errorf("find cancelling flow runs: %w", err)
	}
	n := 0
	for _, r := range runs {
		ok, err := transitionFlowRun(ctx, s.machine, r.ID, func(_ context.Context, _ storage.RunTx, fr *apitype.FlowRun, now time.Time) (*runstate.Transition, error) {
			if fr.State == nil || fr.State.ID != r.StateID || fr.State.Type != apitype.StateTypeCancelling ||
				fr.State.Timestamp.Add(s.cfg.CancellingTimeout).After(now) {
				return nil, nil
			}
			return &runstate.Transition{Proposed: newState(apitype.StateTypeCancelled, "Cancelled", CancellingTimeoutMessage, now)}, nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			logTransitionError(s.Logger, "time out cancelling flow run", r.ID, err)
			continue
		}
		if ok {
			n++
		}
	}
	return n, nil
}
