package apitype

import (
	"time"

	"github.com/google/uuid"
)

// FlowRunFilter is Prefect's FlowRunFilter. Nil criteria are ignored.
type FlowRunFilter struct {
	Operator               Operator                `json:"operator,omitempty"`
	ID                     *FilterID               `json:"id,omitempty"`
	Name                   *FilterName             `json:"name,omitempty"`
	Tags                   *FlowRunFilterTags      `json:"tags,omitempty"`
	DeploymentID           *FilterOptionalID       `json:"deployment_id,omitempty"`
	WorkQueueName          *FilterOptionalString   `json:"work_queue_name,omitempty"`
	State                  *FilterState            `json:"state,omitempty"`
	FlowVersion            *FilterStrings          `json:"flow_version,omitempty"`
	StartTime              *FilterTime             `json:"start_time,omitempty"`
	EndTime                *FilterTime             `json:"end_time,omitempty"`
	ExpectedStartTime      *FilterTime             `json:"expected_start_time,omitempty"`
	NextScheduledStartTime *FilterTime             `json:"next_scheduled_start_time,omitempty"`
	ParentFlowRunID        *FilterOptionalID       `json:"parent_flow_run_id,omitempty"`
	ParentTaskRunID        *FilterOptionalID       `json:"parent_task_run_id,omitempty"`
	IdempotencyKey         *FilterStrings          `json:"idempotency_key,omitempty"`
	CreatedBy              *FlowRunFilterCreatedBy `json:"created_by,omitempty"`
}

// FlowRunFilterTags is `{all_, any_, is_null_}` on flow run tags.
type FlowRunFilterTags struct {
	Operator Operator `json:"operator,omitempty"`
	All      []string `json:"all_,omitempty"`
	Any      []string `json:"any_,omitempty"`
	IsNull   *bool    `json:"is_null_,omitempty"`
}

// FilterOptionalID is `{any_, is_null_}` on a nullable uuid column.
type FilterOptionalID struct {
	Operator Operator    `json:"operator,omitempty"`
	Any      []uuid.UUID `json:"any_,omitempty"`
	IsNull   *bool       `json:"is_null_,omitempty"`
}

// FilterOptionalString is `{any_, is_null_}` on a nullable text column.
type FilterOptionalString struct {
	Operator Operator `json:"operator,omitempty"`
	Any      []string `json:"any_,omitempty"`
	IsNull   *bool    `json:"is_null_,omitempty"`
}

// FilterStrings is `{any_, not_any_}` on a text column.
type FilterStrings struct {
	Any    []string `json:"any_,omitempty"`
	NotAny []string `json:"not_any_,omitempty"`
}

// FilterStateType is `{any_, not_any_}` on state_type.
type FilterStateType struct {
	Any    []StateType `json:"any_,omitempty"`
	NotAny []StateType `json:"not_any_,omitempty"`
}

// FilterState combines state type and name criteria.
type FilterState struct {
	Operator Operator         `json:"operator,omitempty"`
	Type     *FilterStateType `json:"type,omitempty"`
	Name     *FilterStrings   `json:"name,omitempty"`
}

// FilterTime is `{before_, after_, is_null_}` (both bounds inclusive).
type FilterTime struct {
	Before *time.Time `json:"before_,omitempty"`
	After  *time.Time `json:"after_,omitempty"`
	IsNull *bool      `json:"is_null_,omitempty"`
}

// FlowRunFilterCreatedBy filters on created_by.id and created_by.type.
type FlowRunFilterCreatedBy struct {
	Operator Operator    `json:"operator,omitempty"`
	ID       []uuid.UUID `json:"id_,omitempty"`
	Type     []string    `json:"type_,omitempty"`
	IsNull   *bool       `json:"is_null_,omitempty"`
}

// TaskRunFilter is Prefect's TaskRunFilter. Nil criteria are ignored.
type TaskRunFilter struct {
	Operator          Operator               `json:"operator,omitempty"`
	ID                *FilterID              `json:"id,omitempty"` // not_any_ is ignored, as in Prefect
	Name              *FilterName            `json:"name,omitempty"`
	Tags              *FilterTags            `json:"tags,omitempty"`
	State             *FilterState           `json:"state,omitempty"` // not_any_ is ignored, as in Prefect
	StartTime         *FilterTime            `json:"start_time,omitempty"`
	EndTime           *FilterTime            `json:"end_time,omitempty"`
	ExpectedStartTime *FilterTime            `json:"expected_start_time,omitempty"`
	SubflowRuns       *TaskRunFilterSubflows `json:"subflow_runs,omitempty"`
	FlowRunID         *FilterOptionalID      `json:"flow_run_id,omitempty"`
}

// TaskRunFilterSubflows keeps (exists_ true) or drops (false) the task runs
// tracking a subflow run.
type TaskRunFilterSubflows struct {
	Exists *bool `json:"exists_,omitempty"`
}
