package orchestration

import (
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// RunKind tells flow runs and task runs apart; policies and transforms differ.
type RunKind int

// Run kinds.
const (
	FlowRunKind RunKind = iota + 1
	TaskRunKind
)

func (k RunKind) String() string {
	switch k {
	case FlowRunKind:
		return "flow_run"
	case TaskRunKind:
		return "task_run"
	}
	return "unknown"
}

// Retry types recorded in FlowRunPolicy.RetryType.
const (
	RetryTypeInProcess  = "in_process"
	RetryTypeReschedule = "reschedule"
)

// FlowRunPolicy is the part of a flow run's empirical_policy rules use.
type FlowRunPolicy struct {
	Retries    *int
	RetryDelay *int // seconds
	// PauseKeys has set semantics; nil means Prefect's null, empty means set().
	PauseKeys []string
	Resuming  bool
	RetryType *string
}

// TaskRunPolicy is the part of a task run's empirical_policy rules use.
type TaskRunPolicy struct {
	Retries *int
	// RetryDelay holds Prefect's retry_delay: nil for null, one element for a
	// scalar, the list otherwise (seconds).
	RetryDelay        []float64
	RetryJitterFactor *float64
}

// Run holds the run columns orchestration reads and writes. The engine works
// on a copy and returns the updated run in Result.Run; the caller persists
// every field (they are the denormalised columns of flow_run / task_run).
type Run struct {
	Kind RunKind
	ID   uuid.UUID

	FlowRunID         *uuid.UUID // task runs: the enclosing flow run
	ParentTaskRunID   *uuid.UUID // flow runs: the tracking task of a subflow
	DeploymentID      *uuid.UUID // flow runs
	InfrastructurePID *string    // flow runs
	TaskKey           string     // task runs
	Tags              []string

	StateType      apitype.StateType // "" when the run has no state yet
	StateName      string
	StateTimestamp *time.Time

	RunCount               int
	FlowRunRunCount        int // task runs: the flow run attempt it ran in
	StartTime              *time.Time
	EndTime                *time.Time
	TotalRunTime           time.Duration
	ExpectedStartTime      *time.Time
	NextScheduledStartTime *time.Time

	FlowPolicy FlowRunPolicy // flow runs
	TaskPolicy TaskRunPolicy // task runs
}

// Clone returns a deep copy.
func (r *Run) Clone() *Run {
	c := *r
	c.FlowRunID = clonePtr(r.FlowRunID)
	c.ParentTaskRunID = clonePtr(r.ParentTaskRunID)
	c.DeploymentID = clonePtr(r.DeploymentID)
	c.InfrastructurePID = clonePtr(r.InfrastructurePID)
	c.Tags = slices.Clone(r.Tags)
	c.StateTimestamp = clonePtr(r.StateTimestamp)
	c.StartTime = clonePtr(r.StartTime)
	c.EndTime = clonePtr(r.EndTime)
	c.ExpectedStartTime = clonePtr(r.ExpectedStartTime)
	c.NextScheduledStartTime = clonePtr(r.NextScheduledStartTime)
	c.FlowPolicy.Retries = clonePtr(r.FlowPolicy.Retries)
	c.FlowPolicy.RetryDelay = clonePtr(r.FlowPolicy.RetryDelay)
	c.FlowPolicy.PauseKeys = slices.Clone(r.FlowPolicy.PauseKeys)
	c.FlowPolicy.RetryType = clonePtr(r.FlowPolicy.RetryType)
	c.TaskPolicy.Retries = clonePtr(r.TaskPolicy.Retries)
	c.TaskPolicy.RetryDelay = slices.Clone(r.TaskPolicy.RetryDelay)
	c.TaskPolicy.RetryJitterFactor = clonePtr(r.TaskPolicy.RetryJitterFactor)
	return &c
}

// EstimatedRunTime is Prefect's estimated_run_time: total_run_time plus the
// time spent in the current RUNNING state, if any.
func (r *Run) EstimatedRunTime(now time.Time) time.Duration {
	if r.StateType == apitype.StateTypeRunning && r.StateTimestamp != nil {
		return r.TotalRunTime + now.Sub(*r.StateTimestamp)
	}
	return r.TotalRunTime
}

// EstimatedStartTimeDelta is Prefect's estimated_start_time_delta
// ("lateness"): start − expected start once started late, now − expected
// start while a non-terminal run has not started past its expected time, else 0.
func (r *Run) EstimatedStartTimeDelta(now time.Time) time.Duration {
	switch {
	case r.StartTime != nil && r.ExpectedStartTime != nil && r.StartTime.After(*r.ExpectedStartTime):
		return r.StartTime.Sub(*r.ExpectedStartTime)
	case r.StartTime == nil && r.ExpectedStartTime != nil && r.ExpectedStartTime.Before(now) &&
		!r.StateType.IsTerminal():
		return now.Sub(*r.ExpectedStartTime)
	}
	return 0
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func ptr[T any](v T) *T { return &v }
