package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/schedule"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Defaults mirror Prefect's server.services.scheduler settings.
const (
	SchedulerIntervalDefault            = 60 * time.Second
	SchedulerRecentIntervalDefault      = 5 * time.Second
	SchedulerDeploymentBatchSizeDefault = 100
	SchedulerInsertBatchSizeDefault     = 500
	// schedulerMaxPages bounds one iteration, so a huge backlog of
	// deployments cannot hold the loop (the next tick continues).
	schedulerMaxPages = 1000
)

// SchedulerStore is what the scheduler needs of storage.
type SchedulerStore interface {
	storage.SchedulerStore
	DeploymentGet(ctx context.Context, id uuid.UUID) (*apitype.Deployment, error)
}

// SchedulerOptions are the server.services.scheduler settings; zero fields
// take Prefect's defaults.
type SchedulerOptions struct {
	Interval            time.Duration // loop_seconds
	RecentInterval      time.Duration // recent_deployments_loop_seconds
	DeploymentBatchSize int
	InsertBatchSize     int
	MaxRuns             int
	MinRuns             int
	MaxScheduledTime    time.Duration
	MinScheduledTime    time.Duration
}

func (o SchedulerOptions) withDefaults() SchedulerOptions {
	o.Interval = cmp.Or(o.Interval, SchedulerIntervalDefault)
	o.RecentInterval = cmp.Or(o.RecentInterval, SchedulerRecentIntervalDefault)
	o.DeploymentBatchSize = cmp.Or(o.DeploymentBatchSize, SchedulerDeploymentBatchSizeDefault)
	o.InsertBatchSize = cmp.Or(o.InsertBatchSize, SchedulerInsertBatchSizeDefault)
	o.MaxRuns = cmp.Or(o.MaxRuns, schedule.DefaultMaxRuns)
	o.MinRuns = cmp.Or(o.MinRuns, schedule.DefaultMinRuns)
	o.MaxScheduledTime = cmp.Or(o.MaxScheduledTime, schedule.DefaultMaxScheduledTime)
	o.MinScheduledTime = cmp.Or(o.MinScheduledTime, schedule.DefaultMinScheduledTime)
	return o
}

// Scheduler is Prefect's scheduler service: it keeps every unpaused
// deployment's active schedules stocked with future SCHEDULED runs. The
// recent variant looks only at deployments updated in the last few seconds,
// on a short loop, so a new deployment (flow.serve()) gets its first runs
// at once instead of at the next main tick. Both insert idempotently, so
// they may overlap.
type Scheduler struct {
	Base
	opts   SchedulerOptions
	store  SchedulerStore
	recent bool
}

// NewScheduler builds the two scheduler services (main and recent
// deployments), both singletons.
func NewScheduler(store SchedulerStore, opts SchedulerOptions, base Base) []Service {
	base.init()
	opts = opts.withDefaults()
	return []Service{
		&Scheduler{Base: base, opts: opts, store: store},
		&Scheduler{Base: base, opts: opts, store: store, recent: true},
	}
}

// Name implements Service.
func (s *Scheduler) Name() string {
	if s.recent {
		return "recent_deployments_scheduler"
	}
	return "scheduler"
}

// Singleton implements Service: replicas would only repeat each other's
// idempotent inserts.
func (s *Scheduler) Singleton() bool { return true }

// Run implements Service.
func (s *Scheduler) Run(ctx context.Context) error {
	interval := s.opts.Interval
	if s.recent {
		interval = s.opts.RecentInterval
	}
	return loop(ctx, &s.Base, s.Name(), interval, func(ctx context.Context) error {
		_, err := s.runOnce(ctx)
		return err
	})
}

// runOnce pages through the deployments that need runs and inserts what
// their schedules plan, returning how many runs were new.
func (s *Scheduler) runOnce(ctx context.Context) (int, error) {
	total := 0
	after := uuid.Nil
	for range schedulerMaxPages {
		now := s.Now().UTC()
		sel := &storage.SchedulerSelect{Now: now, MinRuns: s.opts.MinRuns, MinScheduledTime: s.opts.MinScheduledTime,
			After: after, Limit: s.opts.DeploymentBatchSize}
		if s.recent {
			// A second more than the loop catches deployments written while
			// the previous iteration ran.
			sel.UpdatedSince = now.Add(-s.opts.RecentInterval - time.Second)
		}
		ids, err := s.store.SchedulerDeploymentIDs(ctx, sel)
		if err != nil {
			return total, fmt.Errorf("select deployments: %w", err)
		}
		runs, err := s.plan(ctx, ids, now)
		if err != nil {
			return total, err
		}
		for batch := range slices.Chunk(runs, s.opts.InsertBatchSize) {
			inserted, err := s.store.SchedulerInsertRuns(ctx, batch, now)
			if err != nil {
				return total, fmt.Errorf("insert scheduled runs: %w", err)
			}
			total += len(inserted)
		}
		if len(ids) < s.opts.DeploymentBatchSize {
			break
		}
		after = ids[len(ids)-1]
	}
	if total > 0 {
		s.Logger.Info("scheduled flow runs", slog.String("service", s.Name()), slog.Int("num_inserted", total))
	}
	return total, nil
}

// plan collects the runs of a page of deployments. A deployment whose
// schedule cannot be evaluated is logged and skipped, as in Prefect, so one
// bad schedule does not starve the others.
func (s *Scheduler) plan(ctx context.Context, ids []uuid.UUID, now time.Time) ([]apitype.FlowRun, error) {
	w := schedule.Window{Start: now, End: now.Add(s.opts.MaxScheduledTime), MinTime: s.opts.MinScheduledTime,
		MinRuns: s.opts.MinRuns, MaxRuns: s.opts.MaxRuns, CapScheduled: true}
	var runs []apitype.FlowRun
	for _, id := range ids {
		d, err := s.store.DeploymentGet(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted since it was selected
		}
		if err != nil {
			return nil, fmt.Errorf("read deployment %s: %w", id, err)
		}
		planned, err := schedule.RunsFor(d, w, now, RunName)
		if err != nil {
			s.Logger.Error("cannot schedule deployment", slog.String("deployment_id", id.String()), slog.Any("err", err))
			continue
		}
		runs = append(runs, planned...)
	}
	return runs, nil
}
