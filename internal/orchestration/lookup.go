package orchestration

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Lookup is every read the rules need beyond the run and its current state.
// The storage layer implements it inside the transaction that locked the run.
// "Not found" is reported as a nil result, not an error.
type Lookup interface {
	// FlowRun returns the flow run with this id (a task run's enclosing run).
	FlowRun(ctx context.Context, id uuid.UUID) (*FlowRunSnapshot, error)
	// CachedTaskRunState returns the task run state most recently cached
	// under key whose expiration is unset or after now.
	CachedTaskRunState(ctx context.Context, key string, now time.Time) (*apitype.State, error)
	// FlowRunStateTimestampTaken reports whether the flow run already has a
	// state with exactly this timestamp ((flow_run_id, timestamp) is unique).
	FlowRunStateTimestampTaken(ctx context.Context, flowRunID uuid.UUID, ts time.Time) (bool, error)
	ConcurrencyLookup
}

// ConcurrencyLookup holds the reads of the concurrency rules. Snapshots must
// be read under lock: the engine decides on them and returns slot effects.
type ConcurrencyLookup interface {
	// DeploymentConcurrency returns the deployment's concurrency settings.
	DeploymentConcurrency(ctx context.Context, deploymentID uuid.UUID) (*DeploymentConcurrency, error)
	// ConcurrencyLimitsByName returns the v2 limits with these names (those
	// that exist), with ActiveSlots already decayed to now.
	ConcurrencyLimitsByName(ctx context.Context, names []string) ([]ConcurrencyLimit, error)
	// TagConcurrencyLimits returns the v1 concurrency_limit rows of these tags.
	TagConcurrencyLimits(ctx context.Context, tags []string) ([]TagConcurrencyLimit, error)
	// LeaseActive reports whether the lease exists and has not expired at now.
	LeaseActive(ctx context.Context, leaseID uuid.UUID, now time.Time) (bool, error)
}

// FlowRunSnapshot is what task rules need of the enclosing flow run.
type FlowRunSnapshot struct {
	ID       uuid.UUID
	State    *apitype.State // nil when the flow run has no state
	RunCount int
}

// Deployment concurrency collision strategies.
const (
	CollisionEnqueue   = "ENQUEUE"
	CollisionCancelNew = "CANCEL_NEW"
)

// DeploymentConcurrency is a deployment's concurrency configuration.
type DeploymentConcurrency struct {
	DeploymentID       uuid.UUID
	ConcurrencyLimitID *uuid.UUID
	Limit              *ConcurrencyLimit // the global_concurrency_limit row, nil if none
	// CollisionStrategy is "" when the deployment has no concurrency_options.
	CollisionStrategy  string
	GracePeriodSeconds *int
}

// ConcurrencyLimit is a v2 (global) concurrency limit snapshot.
type ConcurrencyLimit struct {
	ID                      uuid.UUID
	Name                    string
	Limit                   int
	ActiveSlots             int
	Active                  bool
	AvgSlotOccupancySeconds float64
}

// TagConcurrencyLimit is a v1 tag concurrency limit: the ids of the task runs
// holding its slots.
type TagConcurrencyLimit struct {
	Tag         string
	Limit       int
	ActiveSlots []string
}

// Config carries the server settings the rules read. Zero fields take
// Prefect's defaults (see withDefaults).
type Config struct {
	TagConcurrencySlotWait         time.Duration // server.tasks.tag_concurrency_slot_wait_seconds (10s)
	DeploymentConcurrencySlotWait  time.Duration // server.deployments.concurrency_slot_wait_seconds (30s)
	InitialDeploymentLeaseDuration time.Duration // server.concurrency.initial_deployment_lease_duration (300s)
	MaxCacheKeyLength              int           // server.tasks.max_cache_key_length (2000)
	// Rand returns a uniform float in [0, 1); it drives retry and slot-wait
	// jitter. Tests pin it.
	Rand func() float64
}

// v1LeaseTTL is the lease Prefect gives tag-limit slots: effectively forever,
// because task runs release them explicitly.
const v1LeaseTTL = 100 * 365 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.TagConcurrencySlotWait == 0 {
		c.TagConcurrencySlotWait = 10 * time.Second
	}
	if c.DeploymentConcurrencySlotWait == 0 {
		c.DeploymentConcurrencySlotWait = 30 * time.Second
	}
	if c.InitialDeploymentLeaseDuration == 0 {
		c.InitialDeploymentLeaseDuration = 300 * time.Second
	}
	if c.MaxCacheKeyLength == 0 {
		c.MaxCacheKeyLength = 2000
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}
