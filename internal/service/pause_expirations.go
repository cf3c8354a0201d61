package service

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Defaults mirror Prefect's server.services.pause_expirations settings.
const (
	PauseExpirationsIntervalDefault = 5 * time.Second
	pauseExpirationsBatch           = 200
	// PauseExpiredMessage is Prefect's message on the FAILED state.
	PauseExpiredMessage = "The flow was paused and never resumed."
)

// PauseExpirationsConfig tunes PauseExpirations; zero fields take the defaults.
type PauseExpirationsConfig struct {
	Interval time.Duration // server.services.pause_expirations.loop_seconds
}

// PauseExpirations is Prefect's FailExpiredPauses: a PAUSED run whose
// pause_timeout has passed is forced to FAILED.
type PauseExpirations struct {
	Base
	cfg     PauseExpirationsConfig
	machine *runstate.Machine
}

// NewPauseExpirations builds the service.
func NewPauseExpirations(machine *runstate.Machine, cfg PauseExpirationsConfig, base Base) *PauseExpirations {
	base.init()
	cfg.Interval = cmp.Or(cfg.Interval, PauseExpirationsIntervalDefault)
	return &PauseExpirations{Base: base, cfg: cfg, machine: machine}
}

// Name implements Service.
func (s *PauseExpirations) Name() string { return "pause_expirations" }

// Singleton implements Service.
func (s *PauseExpirations) Singleton() bool { return true }

// Run implements Service.
func (s *PauseExpirations) Run(ctx context.Context) error {
	return loop(ctx, &s.Base, s.Name(), s.cfg.Interval, func(ctx context.Context) error {
		_, err := s.runOnce(ctx)
		return err
	})
}

// expired reports whether the run's current state is a pause past its timeout.
func expired(st *apitype.State, now time.Time) bool {
	return st != nil && st.Type == apitype.StateTypePaused &&
		st.StateDetails.PauseTimeout != nil && st.StateDetails.PauseTimeout.Before(now)
}

// runOnce fails every expired pause and returns how many it failed.
func (s *PauseExpirations) runOnce(ctx context.Context) (int, error) {
	now := s.Now()
	failed := 0
	after := uuid.Nil
	for {
		runs, err := s.machine.Store.FlowRunsPaused(ctx, after, pauseExpirationsBatch)
		if err != nil {
			return failed, fmt.Errorf("find paused runs: %w", err)
		}
		for _, r := range runs {
			if r.PauseTimeout == nil || !r.PauseTimeout.Before(now) {
				continue
			}
			ok, err := transitionFlowRun(ctx, s.machine, r.ID, func(_ context.Context, _ storage.RunTx, fr *apitype.FlowRun, now time.Time) (*runstate.Transition, error) {
				if !expired(fr.State, now) {
					return nil, nil // resumed, or re-paused with a new timeout
				}
				return &runstate.Transition{Proposed: newState(apitype.StateTypeFailed, "Failed", PauseExpiredMessage, now), Force: true}, nil
			})
			if err != nil {
				if ctx.Err() != nil {
					return failed, ctx.Err()
				}
				logTransitionError(s.Logger, "fail expired pause", r.ID, err)
				continue
			}
			if ok {
				failed++
			}
		}
		if len(runs) < pauseExpirationsBatch {
			break
		}
		after = runs[len(runs)-1].ID
	}
	if failed > 0 {
		s.Logger.Info("failed flow runs whose pause expired", slog.Int("count", failed))
	}
	return failed, nil
}
