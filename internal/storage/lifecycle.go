package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// LifecycleStore holds the narrow reads the run-lifecycle services (late
// runs, pause expirations, cancellation cleanup, foreman) use to find their
// work. They only select: every state change goes through the orchestration
// transaction (FlowRunOrchestrate / TaskRunOrchestrate), which re-checks the
// run under its lock, so a stale answer here is harmless.
type LifecycleStore interface {
	// FlowRunsLate lists SCHEDULED runs still named "Scheduled" whose
	// next_scheduled_start_time is at or before `before`, most overdue first.
	FlowRunsLate(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error)
	// FlowRunsPaused lists PAUSED runs with their current state's
	// pause_timeout (nil when none), ordered by id, ids after `after`.
	FlowRunsPaused(ctx context.Context, after uuid.UUID, limit int) ([]PausedFlowRun, error)
	// TaskRunsOfCancelled lists task runs in a non-terminal state (runs
	// with no state are left alone, as in Prefect) whose flow run is
	// CANCELLED with an end_time at or after since; ordered by id, ids after
	// `after`.
	TaskRunsOfCancelled(ctx context.Context, since time.Time, after uuid.UUID, limit int) ([]uuid.UUID, error)
	// SubflowRunsOfCancelled lists subflow runs in PENDING, SCHEDULED,
	// RUNNING, PAUSED or CANCELLING whose containing flow run (the flow run of
	// their parent task run) is CANCELLED, has no state or is gone, except
	// deployment runs already CANCELLING (their worker finishes the job);
	// ordered by id, ids after `after`.
	SubflowRunsOfCancelled(ctx context.Context, after uuid.UUID, limit int) ([]SubflowRun, error)
	// FlowRunsCancelling lists runs in CANCELLING since at or before cutoff
	// (state_timestamp), oldest first.
	FlowRunsCancelling(ctx context.Context, cutoff time.Time, limit int) ([]CancellingFlowRun, error)

	// WorkPoolsWentNotReady lists the pools whose status turned NOT_READY in
	// (since, now]: not paused, not agent pools, no worker online at now,
	// and the last worker went offline inside the window. Statuses are
	// computed on read, so this is how the foreman finds the transitions
	// Prefect's foreman writes (and announces).
	WorkPoolsWentNotReady(ctx context.Context, since, now time.Time) ([]WorkPoolRef, error)
	// WorkQueuesWentNotReady lists the queues (not paused) whose last poll
	// became older than pollTimeout inside (since, now].
	WorkQueuesWentNotReady(ctx context.Context, since, now time.Time, pollTimeout time.Duration) ([]WorkQueueRef, error)
	// DeploymentRefs describes deployments for events (flow, queue, pool);
	// missing ids are skipped.
	DeploymentRefs(ctx context.Context, ids []uuid.UUID) ([]DeploymentRef, error)
}

// PausedFlowRun is a paused run and when its pause expires.
type PausedFlowRun struct {
	ID           uuid.UUID
	PauseTimeout *time.Time
}

// SubflowRun is a subflow run the cancellation cleanup may cancel.
type SubflowRun struct {
	ID            uuid.UUID
	HasDeployment bool
	StateType     string
}

// CancellingFlowRun is a run in CANCELLING: the state id guards the
// timeout against a state change made since it was read.
type CancellingFlowRun struct {
	ID             uuid.UUID
	StateID        uuid.UUID
	StateTimestamp time.Time
}

// WorkPoolRef names a work pool in an event.
type WorkPoolRef struct {
	ID   uuid.UUID
	Name string
	Type string
}

// WorkQueueRef names a work queue and its pool in an event.
type WorkQueueRef struct {
	ID   uuid.UUID
	Name string
	Pool WorkPoolRef
}

// DeploymentRef names a deployment and what its events relate to.
type DeploymentRef struct {
	ID        uuid.UUID
	Name      string
	FlowID    uuid.UUID
	FlowName  string
	WorkQueue *WorkQueueRef // nil when the deployment has no queue
}

// UnfinishedStateTypes are the run state types that are not terminal.
var UnfinishedStateTypes = []string{
	string(apitype.StateTypeScheduled), string(apitype.StateTypePending), string(apitype.StateTypeRunning),
	string(apitype.StateTypePaused), string(apitype.StateTypeCancelling),
}

// PauseTimeoutOf reads pause_timeout from a stored state_details column
// ("" or null when the run has no state row).
func PauseTimeoutOf(details string) (*time.Time, error) {
	if details == "" || details == "null" {
		return nil, nil
	}
	var d struct {
		PauseTimeout *time.Time `json:"pause_timeout"`
	}
	if err := json.Unmarshal([]byte(details), &d); err != nil {
		return nil, fmt.Errorf("decode state_details: %w", err)
	}
	return d.PauseTimeout, nil
}
