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
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Defaults mirror Prefect's server.services.foreman settings.
const (
	ForemanIntervalDefault       = 15 * time.Second
	DeploymentPollTimeoutDefault = 60 * time.Second
)

// ForemanStore is what the foreman needs of storage.
type ForemanStore interface {
	DeploymentsMarkNotReady(ctx context.Context, cutoff, now time.Time) ([]uuid.UUID, error)
	DeploymentRefs(ctx context.Context, ids []uuid.UUID) ([]storage.DeploymentRef, error)
	WorkPoolsWentNotReady(ctx context.Context, since, now time.Time) ([]storage.WorkPoolRef, error)
	WorkQueuesWentNotReady(ctx context.Context, since, now time.Time, pollTimeout time.Duration) ([]storage.WorkQueueRef, error)
}

// ForemanConfig tunes Foreman; zero fields take the defaults.
type ForemanConfig struct {
	Interval              time.Duration // server.services.foreman.loop_seconds
	DeploymentPollTimeout time.Duration // server.services.foreman.deployment_last_polled_timeout_seconds
}

// Foreman is Prefect's foreman. Worker, work-pool and work-queue statuses
// are computed on read in Warden (storage.WorkerStatus and friends), so
// nothing has to be flipped for them; the foreman announces the pools and
// queues that turned NOT_READY since its previous pass with Prefect's
// prefect.work-pool.not-ready / prefect.work-queue.not-ready events. The
// deployment status is stored: deployments not polled within
// DeploymentPollTimeout are marked NOT_READY (prefect.deployment.not-ready).
type Foreman struct {
	Base
	cfg   ForemanConfig
	store ForemanStore
	bus   events.Bus // nil publishes nothing
	// last is the end of the previous pass's window (zero before the first).
	last time.Time
}

// NewForeman builds the service; bus receives its events.
func NewForeman(store ForemanStore, bus events.Bus, cfg ForemanConfig, base Base) *Foreman {
	base.init()
	cfg.Interval = cmp.Or(cfg.Interval, ForemanIntervalDefault)
	cfg.DeploymentPollTimeout = cmp.Or(cfg.DeploymentPollTimeout, DeploymentPollTimeoutDefault)
	return &Foreman{Base: base, cfg: cfg, store: store, bus: bus}
}

// Name implements Service.
func (s *Foreman) Name() string { return "foreman" }

// Singleton implements Service: two foremen would announce every change twice.
func (s *Foreman) Singleton() bool { return true }

// Run implements Service.
func (s *Foreman) Run(ctx context.Context) error {
	return loop(ctx, &s.Base, s.Name(), s.cfg.Interval, func(ctx context.Context) error {
		_, err := s.runOnce(ctx)
		return err
	})
}

// foremanResult counts what one pass found.
type foremanResult struct {
	deployments, pools, queues int
}

func (s *Foreman) runOnce(ctx context.Context) (foremanResult, error) {
	now := s.Now().UTC()
	since := s.last
	if since.IsZero() {
		// First pass: transitions of the last interval, which a previous
		// process may not have announced yet.
		since = now.Add(-s.cfg.Interval)
	}
	var res foremanResult
	var errs []error
	var evs []apitype.ReceivedEvent

	ids, err := s.store.DeploymentsMarkNotReady(ctx, now.Add(-s.cfg.DeploymentPollTimeout), now)
	if err != nil {
		errs = append(errs, fmt.Errorf("mark deployments not ready: %w", err))
	} else if len(ids) > 0 {
		res.deployments = len(ids)
		refs, err := s.store.DeploymentRefs(ctx, ids)
		if err != nil {
			errs = append(errs, fmt.Errorf("describe deployments: %w", err))
		}
		for _, d := range refs {
			evs = append(evs, deploymentNotReadyEvent(d, now))
		}
	}
	pools, err := s.store.WorkPoolsWentNotReady(ctx, since, now)
	if err != nil {
		errs = append(errs, fmt.Errorf("find work pools not ready: %w", err))
	}
	for _, p := range pools {
		evs = append(evs, workPoolNotReadyEvent(p, now))
	}
	res.pools = len(pools)
	queues, err := s.store.WorkQueuesWentNotReady(ctx, since, now, storage.WorkQueuePollTimeout)
	if err != nil {
		errs = append(errs, fmt.Errorf("find work queues not ready: %w", err))
	}
	for _, q := range queues {
		evs = append(evs, workQueueNotReadyEvent(q, now))
	}
	res.queues = len(queues)
	if len(errs) == 0 {
		// Keep the window open on failure so the next pass covers it.
		s.last = now
	}
	if len(evs) > 0 && s.bus != nil {
		if err := s.bus.Publish(ctx, evs); err != nil {
			errs = append(errs, fmt.Errorf("publish status events: %w", err))
		}
	}
	if res != (foremanResult{}) {
		s.Logger.Info("foreman marked resources not ready", slog.Int("deployments", res.deployments),
			slog.Int("work_pools", res.pools), slog.Int("work_queues", res.queues))
	}
	return res, errors.Join(errs...)
}

func statusEvent(name string, resource apitype.Resource, related []apitype.Resource, now time.Time) apitype.ReceivedEvent {
	ev := apitype.ReceivedEvent{Received: now}
	ev.ID = uuid.Must(uuid.NewV7())
	ev.Occurred = now
	ev.Event.Event = name
	ev.Resource = resource
	ev.Related = related
	return ev
}

func poolResource(p storage.WorkPoolRef) apitype.Resource {
	return apitype.Resource{
		apitype.LabelResourceID:   "prefect.work-pool." + p.ID.String(),
		apitype.LabelResourceName: p.Name,
		"prefect.work-pool.type":  p.Type,
	}
}

// relatedPool is a pool in a related list (with its role).
func relatedPool(p storage.WorkPoolRef) apitype.Resource {
	r := poolResource(p)
	r[apitype.LabelResourceRole] = "work-pool"
	return r
}

// workPoolNotReadyEvent is Prefect's work_pool_status_event.
func workPoolNotReadyEvent(p storage.WorkPoolRef, now time.Time) apitype.ReceivedEvent {
	return statusEvent("prefect.work-pool.not-ready", poolResource(p), nil, now)
}

// workQueueNotReadyEvent is Prefect's work_queue_status_event.
func workQueueNotReadyEvent(q storage.WorkQueueRef, now time.Time) apitype.ReceivedEvent {
	return statusEvent("prefect.work-queue.not-ready", apitype.Resource{
		apitype.LabelResourceID:   "prefect.work-queue." + q.ID.String(),
		apitype.LabelResourceName: q.Name,
		apitype.LabelResourceRole: "work-queue",
	}, []apitype.Resource{relatedPool(q.Pool)}, now)
}

// deploymentNotReadyEvent is Prefect's deployment_status_event, related to
// the flow, work queue and work pool.
func deploymentNotReadyEvent(d storage.DeploymentRef, now time.Time) apitype.ReceivedEvent {
	related := []apitype.Resource{{
		apitype.LabelResourceID: "prefect.flow." + d.FlowID.String(), apitype.LabelResourceName: d.FlowName, apitype.LabelResourceRole: "flow",
	}}
	if q := d.WorkQueue; q != nil {
		related = append(related, apitype.Resource{
			apitype.LabelResourceID: "prefect.work-queue." + q.ID.String(), apitype.LabelResourceName: q.Name, apitype.LabelResourceRole: "work-queue",
		}, relatedPool(q.Pool))
	}
	return statusEvent("prefect.deployment.not-ready", apitype.Resource{
		apitype.LabelResourceID:   "prefect.deployment." + d.ID.String(),
		apitype.LabelResourceName: d.Name,
	}, related, now)
}
