package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// FlowRun is Prefect's FlowRunResponse schema. Durations are seconds.
type FlowRun struct {
	ID                       uuid.UUID       `json:"id"`
	Created                  time.Time       `json:"created"`
	Updated                  time.Time       `json:"updated"`
	Name                     string          `json:"name"`
	FlowID                   uuid.UUID       `json:"flow_id"`
	StateID                  *uuid.UUID      `json:"state_id"`
	DeploymentID             *uuid.UUID      `json:"deployment_id"`
	DeploymentVersion        *string         `json:"deployment_version"`
	WorkQueueID              *uuid.UUID      `json:"work_queue_id"`
	WorkQueueName            *string         `json:"work_queue_name"`
	FlowVersion              *string         `json:"flow_version"`
	Parameters               json.RawMessage `json:"parameters"`
	IdempotencyKey           *string         `json:"idempotency_key"`
	Context                  json.RawMessage `json:"context"`
	EmpiricalPolicy          FlowRunPolicy   `json:"empirical_policy"`
	Tags                     []string        `json:"tags"`
	Labels                   map[string]any  `json:"labels"`
	ParentTaskRunID          *uuid.UUID      `json:"parent_task_run_id"`
	StateType                *StateType      `json:"state_type"`
	StateName                *string         `json:"state_name"`
	RunCount                 int             `json:"run_count"`
	ExpectedStartTime        *time.Time      `json:"expected_start_time"`
	NextScheduledStartTime   *time.Time      `json:"next_scheduled_start_time"`
	StartTime                *time.Time      `json:"start_time"`
	EndTime                  *time.Time      `json:"end_time"`
	TotalRunTime             float64         `json:"total_run_time"`
	EstimatedRunTime         float64         `json:"estimated_run_time"`
	EstimatedStartTimeDelta  float64         `json:"estimated_start_time_delta"`
	AutoScheduled            bool            `json:"auto_scheduled"`
	InfrastructureDocumentID *uuid.UUID      `json:"infrastructure_document_id"`
	InfrastructurePID        *string         `json:"infrastructure_pid"`
	CreatedBy                *CreatedBy      `json:"created_by"`
	WorkPoolID               *uuid.UUID      `json:"work_pool_id"`
	WorkPoolName             *string         `json:"work_pool_name"`
	State                    *State          `json:"state"`
	JobVariables             json.RawMessage `json:"job_variables"`

	// StateTimestamp is the current state's timestamp (a column, not part
	// of the response): estimated_run_time needs it.
	StateTimestamp *time.Time `json:"-"`
}

// CreatedBy is Prefect's CreatedBy.
type CreatedBy struct {
	ID           *uuid.UUID `json:"id"`
	Type         *string    `json:"type"`
	DisplayValue *string    `json:"display_value"`
}

// FlowRunPolicy is Prefect's FlowRunPolicy (empirical_policy). max_retries and
// retry_delay_seconds are deprecated but still serialised.
type FlowRunPolicy struct {
	MaxRetries        int      `json:"max_retries"`
	RetryDelaySeconds float64  `json:"retry_delay_seconds"`
	Retries           *int     `json:"retries"`
	RetryDelay        *int     `json:"retry_delay"`
	PauseKeys         []string `json:"pause_keys"`
	Resuming          *bool    `json:"resuming"`
	RetryType         *string  `json:"retry_type"`
}

// FlowRunCreate is the body of POST /flow_runs/.
type FlowRunCreate struct {
	State                    *StateCreate    `json:"state"`
	Name                     *string         `json:"name"`
	FlowID                   *uuid.UUID      `json:"flow_id"`
	FlowVersion              *string         `json:"flow_version"`
	Parameters               json.RawMessage `json:"parameters"`
	Context                  json.RawMessage `json:"context"`
	ParentTaskRunID          *uuid.UUID      `json:"parent_task_run_id"`
	InfrastructureDocumentID *uuid.UUID      `json:"infrastructure_document_id"`
	EmpiricalPolicy          *FlowRunPolicy  `json:"empirical_policy"`
	Tags                     []string        `json:"tags"`
	Labels                   map[string]any  `json:"labels"`
	IdempotencyKey           *string         `json:"idempotency_key"`
	WorkPoolName             *string         `json:"work_pool_name"`
	WorkQueueName            *string         `json:"work_queue_name"`
	JobVariables             json.RawMessage `json:"job_variables"`
	DeploymentID             *uuid.UUID      `json:"deployment_id"`
}

// FlowRunUpdate is the body of PATCH /flow_runs/{id}. Nil means "leave as is".
type FlowRunUpdate struct {
	Name              *string         `json:"name,omitempty"`
	FlowVersion       *string         `json:"flow_version,omitempty"`
	Parameters        json.RawMessage `json:"parameters,omitempty"`
	EmpiricalPolicy   *FlowRunPolicy  `json:"empirical_policy,omitempty"`
	Tags              *[]string       `json:"tags,omitempty"`
	InfrastructurePID *string         `json:"infrastructure_pid,omitempty"`
	JobVariables      json.RawMessage `json:"job_variables,omitempty"`
}

// FlowRunSort values accepted by /flow_runs/filter and /flow_runs/paginate.
const (
	FlowRunSortIDDesc                    = "ID_DESC"
	FlowRunSortStartTimeAsc              = "START_TIME_ASC"
	FlowRunSortStartTimeDesc             = "START_TIME_DESC"
	FlowRunSortExpectedStartTimeAsc      = "EXPECTED_START_TIME_ASC"
	FlowRunSortExpectedStartTimeDesc     = "EXPECTED_START_TIME_DESC"
	FlowRunSortNameAsc                   = "NAME_ASC"
	FlowRunSortNameDesc                  = "NAME_DESC"
	FlowRunSortNextScheduledStartTimeAsc = "NEXT_SCHEDULED_START_TIME_ASC"
	FlowRunSortEndTimeDesc               = "END_TIME_DESC"
)

// FlowRunSorts lists every FlowRunSort value.
var FlowRunSorts = []string{
	FlowRunSortIDDesc, FlowRunSortStartTimeAsc, FlowRunSortStartTimeDesc, FlowRunSortExpectedStartTimeAsc,
	FlowRunSortExpectedStartTimeDesc, FlowRunSortNameAsc, FlowRunSortNameDesc,
	FlowRunSortNextScheduledStartTimeAsc, FlowRunSortEndTimeDesc,
}

// FlowRunPaginationResponse is the body of POST /flow_runs/paginate.
type FlowRunPaginationResponse struct {
	Results []FlowRun `json:"results"`
	Count   int64     `json:"count"`
	Limit   int       `json:"limit"`
	Pages   int64     `json:"pages"`
	Page    int       `json:"page"`
}

// FlowRunBulkDeleteResponse is the body of POST /flow_runs/bulk_delete.
type FlowRunBulkDeleteResponse struct {
	Deleted []uuid.UUID `json:"deleted"`
}

// HistoryResponse is one interval of /flow_runs/history and /task_runs/history.
type HistoryResponse struct {
	IntervalStart time.Time              `json:"interval_start"`
	IntervalEnd   time.Time              `json:"interval_end"`
	States        []HistoryResponseState `json:"states"`
}

// HistoryResponseState aggregates the runs of one state in an interval.
type HistoryResponseState struct {
	StateType            StateType `json:"state_type"`
	StateName            string    `json:"state_name"`
	CountRuns            int64     `json:"count_runs"`
	SumEstimatedRunTime  float64   `json:"sum_estimated_run_time"`
	SumEstimatedLateness float64   `json:"sum_estimated_lateness"`
}
