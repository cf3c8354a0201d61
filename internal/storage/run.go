package storage

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// RunStore persists flow runs, task runs and their states.
//
// Runs change state only through FlowRunOrchestrate / TaskRunOrchestrate
// (and the init hook of the create methods): one write transaction that
// locks the run row and hands the caller a RunTx to read and write with,
// so a whole set_state (rules' reads, the new state, the denormalised run
// columns, cache entries, a subflow's parent task run) commits or rolls back
// as one. Storage never decides what a transition does: the orchestration
// engine does, through an adapter in internal/api.
type RunStore interface {
	// FlowRunCreate inserts a flow run. When (flow_id, idempotency_key) is
	// taken it returns the existing run with created=false and does not call
	// init. Otherwise init (if non-nil) runs in the same transaction, e.g. to
	// orchestrate the initial state; an error from it rolls the insert back.
	// A missing flow or parent task run is ErrConflict (Prefect: IntegrityError).
	FlowRunCreate(ctx context.Context, p *FlowRunCreateParams, init RunInit) (run *apitype.FlowRun, created bool, err error)
	FlowRunGet(ctx context.Context, id uuid.UUID) (*apitype.FlowRun, error)
	FlowRunUpdate(ctx context.Context, id uuid.UUID, p *apitype.FlowRunUpdate, now time.Time) error
	// FlowRunMergeLabels sets the given labels over the existing ones.
	FlowRunMergeLabels(ctx context.Context, id uuid.UUID, labels map[string]any, now time.Time) error
	// FlowRunDelete deletes the run with its states and task runs.
	FlowRunDelete(ctx context.Context, id uuid.UUID) error
	// FlowRunDeleteMany deletes up to limit matching runs and returns their ids.
	FlowRunDeleteMany(ctx context.Context, q *RunQuery, limit int) ([]uuid.UUID, error)
	FlowRunList(ctx context.Context, p *RunListParams) ([]apitype.FlowRun, error)
	FlowRunCount(ctx context.Context, q *RunQuery) (int64, error)
	// FlowRunHistory returns the matching runs whose expected start time is
	// in [start, end), for /flow_runs/history.
	FlowRunHistory(ctx context.Context, q *RunQuery, start, end time.Time) ([]HistoryRun, error)
	// FlowRunStates lists a run's states, oldest first.
	FlowRunStates(ctx context.Context, flowRunID uuid.UUID) ([]apitype.State, error)
	FlowRunStateGet(ctx context.Context, id uuid.UUID) (*apitype.State, error)
	// FlowRunOrchestrate locks the flow run and runs fn in one write
	// transaction. ErrNotFound: no such run (fn is not called).
	FlowRunOrchestrate(ctx context.Context, id uuid.UUID, fn func(ctx context.Context, tx RunTx) error) error

	// TaskRunCreate inserts a task run, or returns the existing one with the
	// same (flow_run_id, task_key, dynamic_key) with created=false (init is
	// then not called). A missing flow run is ErrConflict.
	TaskRunCreate(ctx context.Context, p *TaskRunCreateParams, init RunInit) (run *apitype.TaskRun, created bool, err error)
	TaskRunGet(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error)
	TaskRunUpdate(ctx context.Context, id uuid.UUID, p *apitype.TaskRunUpdate, now time.Time) error
	TaskRunDelete(ctx context.Context, id uuid.UUID) error
	TaskRunList(ctx context.Context, p *RunListParams) ([]apitype.TaskRun, error)
	TaskRunCount(ctx context.Context, q *RunQuery) (int64, error)
	TaskRunHistory(ctx context.Context, q *RunQuery, start, end time.Time) ([]HistoryRun, error)
	TaskRunStates(ctx context.Context, taskRunID uuid.UUID) ([]apitype.State, error)
	TaskRunStateGet(ctx context.Context, id uuid.UUID) (*apitype.State, error)
	TaskRunOrchestrate(ctx context.Context, id uuid.UUID, fn func(ctx context.Context, tx RunTx) error) error
}

// RunInit runs inside a create transaction, after the insert; id is the new run.
type RunInit func(ctx context.Context, tx RunTx, id uuid.UUID) error

// RunTx is the view of one orchestration transaction. Reads see the
// transaction's own writes. Methods must not be used after fn returns.
type RunTx interface {
	// FlowRun and TaskRun read a run with its current state. The run fn was
	// called for is already locked; LockTaskRun locks another (a subflow's
	// parent task run) before it is read for update.
	FlowRun(ctx context.Context, id uuid.UUID) (*apitype.FlowRun, error)
	TaskRun(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error)
	LockTaskRun(ctx context.Context, id uuid.UUID) error
	// CachedTaskRunState returns the most recently cached state under key
	// whose expiration is unset or after now; nil when none.
	CachedTaskRunState(ctx context.Context, key string, now time.Time) (*apitype.State, error)
	// FlowRunStateTimestampTaken reports whether the flow run has a state at ts.
	FlowRunStateTimestampTaken(ctx context.Context, flowRunID uuid.UUID, ts time.Time) (bool, error)

	// SetFlowRunState and SetTaskRunState write an orchestration outcome:
	// insert State (when non-nil) and point the run at it, then write the
	// run's orchestrated columns.
	SetFlowRunState(ctx context.Context, w *RunStateWrite) error
	SetTaskRunState(ctx context.Context, w *RunStateWrite) error
	// InsertCacheEntry records a task run state under a cache key.
	InsertCacheEntry(ctx context.Context, e *CacheEntry) error
	ConcurrencyTx
	DeploymentTx
}

// RunStateWrite is one orchestration outcome for a run.
type RunStateWrite struct {
	RunID   uuid.UUID
	State   *apitype.State // the state row to insert; nil writes only the columns
	Columns RunColumns
	Now     time.Time
}

// RunColumns are the run columns orchestration owns.
type RunColumns struct {
	StateType              *apitype.StateType
	StateName              *string
	StateTimestamp         *time.Time
	RunCount               int
	FlowRunRunCount        int // task runs only
	StartTime              *time.Time
	EndTime                *time.Time
	TotalRunTime           time.Duration
	ExpectedStartTime      *time.Time
	NextScheduledStartTime *time.Time
	// Exactly one policy is set, matching the run kind.
	FlowPolicy *apitype.FlowRunPolicy
	TaskPolicy *apitype.TaskRunPolicy
}

// CacheEntry is a task_run_state_cache row.
type CacheEntry struct {
	ID              uuid.UUID
	CacheKey        string
	CacheExpiration *time.Time
	StateID         uuid.UUID
	Now             time.Time
}

// FlowRunCreateParams creates a flow run. Run carries every column the
// caller sets (ID, Name, FlowID, Parameters, ...); state columns are ignored.
type FlowRunCreateParams struct {
	Run apitype.FlowRun
	Now time.Time
}

// TaskRunCreateParams creates a task run; state columns of Run are ignored.
type TaskRunCreateParams struct {
	Run apitype.TaskRun
	Now time.Time
}

// RunQuery is the cross-entity filter of the run read endpoints: a run
// matches when it passes every non-nil filter (flows: its flow; task_runs:
// for flow runs, at least one of its task runs; flow_runs: for task runs,
// its flow run; deployments, work_pools, work_queues: the flow run's
// deployment, work queue and that queue's pool).
type RunQuery struct {
	Flows       *apitype.FlowFilter
	FlowRuns    *apitype.FlowRunFilter
	TaskRuns    *apitype.TaskRunFilter
	Deployments *apitype.DeploymentFilter
	WorkPools   *apitype.WorkPoolFilter
	WorkQueues  *apitype.WorkQueueFilter
}

// RunListParams selects a page of runs. Sort is a FlowRunSort / TaskRunSort
// value ("" is ID_DESC).
type RunListParams struct {
	RunQuery
	Sort   string
	Limit  int
	Offset int
}

// HistoryRun is the slice of a run /history aggregates.
type HistoryRun struct {
	ExpectedStartTime time.Time
	StateType         apitype.StateType
	StateName         string
	StateTimestamp    *time.Time
	StartTime         *time.Time
	TotalRunTime      time.Duration
}
