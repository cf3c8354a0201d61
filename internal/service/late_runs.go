package service

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Defaults mirror Prefect's server.services.late_runs settings.
const (
	LateRunsIntervalDefault = 5 * time.Second
	LateRunsAfterDefault    = 15 * time.Second
	// lateRunsBatch is Prefect's batch: one batch per iteration, the next
	// tick takes the rest.
	lateRunsBatch = 400
)

// LateRunsConfig tunes LateRuns; zero fields take the defaults.
type LateRunsConfig struct {
	Interval time.Duration // server.services.late_runs.loop_seconds
	After    time.Duration // server.services.late_runs.after_seconds
}

// LateRuns is Prefect's MarkLateRuns: SCHEDULED runs whose scheduled start
// is more than After in the past are proposed "Late" with
// MarkLateRunsPolicy, so the UI and workers see them as overdue.
type LateRuns struct {
	Base
	cfg     LateRunsConfig
	machine *runstate.Machine
}

// NewLateRuns builds the service; machine.Store is what it reads.
func NewLateRuns(machine *runstate.Machine, cfg LateRunsConfig, base Base) *LateRuns {
	base.init()
	cfg.Interval = cmp.Or(cfg.Interval, LateRunsIntervalDefault)
	cfg.After = cmp.Or(cfg.After, LateRunsAfterDefault)
	return &LateRuns{Base: base, cfg: cfg, machine: machine}
}

// Name implements Service.
func (s *LateRuns) Name() string { return "late_runs" }

// Singleton implements Service: replicas would race to propose the same
// state; the second proposal is rejected, so it is safe, only wasteful.
func (s *LateRuns) Singleton() bool { return true }

// Run implements Service.
func (s *LateRuns) Run(ctx context.Context) error {
	return loop(ctx, &s.Base, s.Name(), s.cfg.Interval, func(ctx context.Context) error {
		_, err := s.runOnce(ctx)
		return err
	})
}

var markLateRunsPolicy = orchestration.MarkLateRunsPolicy()

// runOnce marks one batch of overdue runs late and returns how many were.
func (s *LateRuns) runOnce(ctx context.Context) (int, error) {
	ids, err := s.machine.Store.FlowRunsLate(ctx, s.Now().Add(-s.cfg.After), lateRunsBatch)
	if err != nil {
		return 0, fmt.Errorf("find late runs: %w", err)
	}
	marked := 0
	for _, id := range ids {
		ok, err := transitionFlowRun(ctx, s.machine, id, func(_ context.Context, _ storage.RunTx, fr *apitype.FlowRun, now time.Time) (*runstate.Transition, error) {
			st := newState(apitype.StateTypeScheduled, apitype.StateNameLate, "", now)
			st.StateDetails.ScheduledTime = fr.NextScheduledStartTime
			return &runstate.Transition{Proposed: st, Policy: &markLateRunsPolicy}, nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return marked, ctx.Err()
			}
			logTransitionError(s.Logger, "mark flow run late", id, err)
			continue
		}
		if ok {
			marked++
		}
	}
	if marked > 0 {
		s.Logger.Info("marked flow runs late", slog.Int("count", marked))
	}
	return marked, nil
}
