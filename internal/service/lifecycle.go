package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// This file is what the run-lifecycle services (late runs, pause
// expirations, cancellation cleanup) share: each finds candidates with a
// cheap read, then re-checks every one under the run's lock before
// proposing a state through the same orchestration the API uses.

// decideFunc looks at the locked run (tx reads other runs in the same
// transaction) and returns the transition to propose, or nil to leave the
// run alone (it changed since the candidate read).
type decideFunc func(ctx context.Context, tx storage.RunTx, fr *apitype.FlowRun, now time.Time) (*runstate.Transition, error)

// transitionFlowRun runs decide and the transition in one orchestration
// transaction and emits the resulting events after the commit. A run deleted
// meanwhile is skipped. accepted reports an ACCEPT.
func transitionFlowRun(ctx context.Context, m *runstate.Machine, id uuid.UUID, decide decideFunc) (accepted bool, err error) {
	var o *runstate.Orchestrator
	var res *apitype.OrchestrationResult
	err = m.Store.FlowRunOrchestrate(ctx, id, func(ctx context.Context, tx storage.RunTx) error {
		o = m.New(tx)
		fr, err := tx.FlowRun(ctx, id)
		if err != nil {
			return err
		}
		t, err := decide(ctx, tx, fr, o.Now())
		if t == nil || err != nil {
			return err
		}
		res, err = o.SetFlowRunState(ctx, id, *t)
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

// newState is a fresh proposed state stamped at now.
func newState(typ apitype.StateType, name, message string, now time.Time) *apitype.State {
	s := &apitype.State{ID: uuid.Must(uuid.NewV7()), Type: typ, Name: name, Timestamp: now}
	if message != "" {
		s.Message = &message
	}
	return s
}

// logTransitionError logs one run's failure; the service goes on with the
// others, as Prefect's per-run tasks fail independently.
func logTransitionError(l *slog.Logger, what string, id uuid.UUID, err error) {
	l.Error(what, slog.String("flow_run_id", id.String()), slog.Any("err", err))
}
