package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// TaskRun is Prefect's TaskRun schema (what /task_runs/* return).
// Durations are seconds.
type TaskRun struct {
	ID                      uuid.UUID                 `json:"id"`
	Created                 time.Time                 `json:"created"`
	Updated                 time.Time                 `json:"updated"`
	Name                    string                    `json:"name"`
	FlowRunID               *uuid.UUID                `json:"flow_run_id"`
	TaskKey                 string                    `json:"task_key"`
	DynamicKey              string                    `json:"dynamic_key"`
	CacheKey                *string                   `json:"cache_key"`
	CacheExpiration         *time.Time                `json:"cache_expiration"`
	TaskVersion             *string                   `json:"task_version"`
	EmpiricalPolicy         TaskRunPolicy             `json:"empirical_policy"`
	Tags                    []string                  `json:"tags"`
	Labels                  map[string]any            `json:"labels"`
	StateID                 *uuid.UUID                `json:"state_id"`
	TaskInputs              map[string][]TaskRunInput `json:"task_inputs"`
	StateType               *StateType                `json:"state_type"`
	StateName               *string                   `json:"state_name"`
	RunCount                int                       `json:"run_count"`
	FlowRunRunCount         int                       `json:"flow_run_run_count"`
	ExpectedStartTime       *time.Time                `json:"expected_start_time"`
	NextScheduledStartTime  *time.Time                `json:"next_scheduled_start_time"`
	StartTime               *time.Time                `json:"start_time"`
	EndTime                 *time.Time                `json:"end_time"`
	TotalRunTime            float64                   `json:"total_run_time"`
	EstimatedRunTime        float64                   `json:"estimated_run_time"`
	EstimatedStartTimeDelta float64                   `json:"estimated_start_time_delta"`
	State                   *State                    `json:"state"`

	// StateTimestamp is the current state's timestamp (a column, not part
	// of the response): estimated_run_time needs it.
	StateTimestamp *time.Time `json:"-"`
}

// TaskRunPolicy is Prefect's TaskRunPolicy. RetryDelay is Prefect's
// int | float | list[int|float] | null, kept as raw JSON (nil is null).
type TaskRunPolicy struct {
	MaxRetries        int             `json:"max_retries"`
	RetryDelaySeconds float64         `json:"retry_delay_seconds"`
	Retries           *int            `json:"retries"`
	RetryDelay        json.RawMessage `json:"retry_delay"`
	RetryJitterFactor *float64        `json:"retry_jitter_factor"`
}

// Task input kinds (TaskRunInput.InputType).
const (
	TaskInputTaskRun   = "task_run"
	TaskInputFlowRun   = "flow_run"
	TaskInputParameter = "parameter"
	TaskInputConstant  = "constant"
)

// TaskRunInput is the union TaskRunResult | FlowRunResult | Parameter |
// Constant, discriminated by InputType. It marshals only the variant's fields.
type TaskRunInput struct {
	InputType string
	ID        *uuid.UUID // task_run, flow_run
	Name      string     // parameter
	Type      string     // constant
}

type taskRunInputJSON struct {
	InputType string     `json:"input_type"`
	ID        *uuid.UUID `json:"id,omitempty"`
	Name      *string    `json:"name,omitempty"`
	Type      *string    `json:"type,omitempty"`
}

// MarshalJSON emits the variant selected by InputType.
func (in TaskRunInput) MarshalJSON() ([]byte, error) {
	out := taskRunInputJSON{InputType: in.InputType}
	switch in.InputType {
	case TaskInputTaskRun, TaskInputFlowRun:
		out.ID = in.ID
	case TaskInputParameter:
		out.Name = &in.Name
	case TaskInputConstant:
		out.Type = &in.Type
	}
	return json.Marshal(out)
}

// UnmarshalJSON infers the variant like pydantic's smart union when
// input_type is absent (older clients): id → task_run, name → parameter,
// type → constant.
func (in *TaskRunInput) UnmarshalJSON(b []byte) error {
	var raw taskRunInputJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*in = TaskRunInput{InputType: raw.InputType, ID: raw.ID}
	if raw.Name != nil {
		in.Name = *raw.Name
	}
	if raw.Type != nil {
		in.Type = *raw.Type
	}
	if in.InputType == "" {
		switch {
		case raw.ID != nil:
			in.InputType = TaskInputTaskRun
		case raw.Name != nil:
			in.InputType = TaskInputParameter
		case raw.Type != nil:
			in.InputType = TaskInputConstant
		}
	}
	return nil
}

// TaskRunCreate is the body of POST /task_runs/.
type TaskRunCreate struct {
	ID              *uuid.UUID                `json:"id"`
	State           *StateCreate              `json:"state"`
	Name            *string                   `json:"name"`
	FlowRunID       *uuid.UUID                `json:"flow_run_id"`
	TaskKey         *string                   `json:"task_key"`
	DynamicKey      *string                   `json:"dynamic_key"`
	CacheKey        *string                   `json:"cache_key"`
	CacheExpiration *time.Time                `json:"cache_expiration"`
	TaskVersion     *string                   `json:"task_version"`
	EmpiricalPolicy *TaskRunPolicy            `json:"empirical_policy"`
	Tags            []string                  `json:"tags"`
	Labels          map[string]any            `json:"labels"`
	TaskInputs      map[string][]TaskRunInput `json:"task_inputs"`
}

// TaskRunUpdate is the body of PATCH /task_runs/{id}.
type TaskRunUpdate struct {
	Name *string `json:"name,omitempty"`
}

// TaskRunSort values accepted by /task_runs/filter and /task_runs/paginate.
const (
	TaskRunSortIDDesc                    = "ID_DESC"
	TaskRunSortExpectedStartTimeAsc      = "EXPECTED_START_TIME_ASC"
	TaskRunSortExpectedStartTimeDesc     = "EXPECTED_START_TIME_DESC"
	TaskRunSortNameAsc                   = "NAME_ASC"
	TaskRunSortNameDesc                  = "NAME_DESC"
	TaskRunSortNextScheduledStartTimeAsc = "NEXT_SCHEDULED_START_TIME_ASC"
	TaskRunSortEndTimeDesc               = "END_TIME_DESC"
)

// TaskRunSorts lists every TaskRunSort value.
var TaskRunSorts = []string{
	TaskRunSortIDDesc, TaskRunSortExpectedStartTimeAsc, TaskRunSortExpectedStartTimeDesc,
	TaskRunSortNameAsc, TaskRunSortNameDesc, TaskRunSortNextScheduledStartTimeAsc, TaskRunSortEndTimeDesc,
}

// TaskRunPaginationResponse is the body of POST /task_runs/paginate.
type TaskRunPaginationResponse struct {
	Results []TaskRun `json:"results"`
	Count   int64     `json:"count"`
	Limit   int       `json:"limit"`
	Pages   int64     `json:"pages"`
	Page    int       `json:"page"`
}
