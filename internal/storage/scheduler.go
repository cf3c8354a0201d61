package storage

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// SchedulerStore serves the scheduler service: which deployments need
// runs, and the idempotent insert of the runs it plans.
type SchedulerStore interface {
	// SchedulerDeploymentIDs returns, in id order and after p.After, up to
	// p.Limit ids of unpaused deployments with an active schedule that
	// needs runs (see SchedulerSelect).
	SchedulerDeploymentIDs(ctx context.Context, p *SchedulerSelect) ([]uuid.UUID, error)
	// SchedulerInsertRuns inserts planned auto-scheduled flow runs, each
	// with its state row (run.State) and the run's copies of that state, in
	// one transaction. A run whose id or (flow_id, idempotency_key) is taken
	// is skipped, so inserting the same plan twice creates nothing.
	// Returns the ids inserted.
	SchedulerInsertRuns(ctx context.Context, runs []apitype.FlowRun, now time.Time) ([]uuid.UUID, error)
}

// SchedulerSelect picks the deployments to schedule. With UpdatedSince zero
// (the main loop), a deployment qualifies when one of its active schedules
// has fewer than min(MinRuns, max_scheduled_runs) future auto-scheduled
// runs, or has fewer than max_scheduled_runs of them and its latest starts
// before Now+MinScheduledTime — Prefect's per-schedule test, which also
// counts a schedule's runs by created_by.id. With UpdatedSince set (the
// recent-deployments loop) it qualifies when it was updated at or after
// UpdatedSince and has an active schedule.
type SchedulerSelect struct {
	Now              time.Time
	MinRuns          int
	MinScheduledTime time.Duration
	UpdatedSince     time.Time
	After            uuid.UUID // uuid.Nil starts at the beginning
	Limit            int
}
