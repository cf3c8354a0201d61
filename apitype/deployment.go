package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Deployment statuses (Prefect's DeploymentStatus).
const (
	DeploymentStatusReady    = "READY"
	DeploymentStatusNotReady = "NOT_READY"
)

// Collision strategies of a deployment concurrency limit.
const (
	CollisionEnqueue   = "ENQUEUE"
	CollisionCancelNew = "CANCEL_NEW"
)

// Deployment sorts (Prefect's DeploymentSort).
const (
	DeploymentSortCreatedDesc = "CREATED_DESC"
	DeploymentSortUpdatedDesc = "UPDATED_DESC"
	DeploymentSortNameAsc     = "NAME_ASC"
	DeploymentSortNameDesc    = "NAME_DESC"
)

// ConcurrencyOptions is Prefect's ConcurrencyOptions.
type ConcurrencyOptions struct {
	CollisionStrategy  string `json:"collision_strategy"`
	GracePeriodSeconds *int64 `json:"grace_period_seconds,omitempty"`
}

// Deployment is Prefect's DeploymentResponse.
type Deployment struct {
	ID                       uuid.UUID                       `json:"id"`
	Created                  time.Time                       `json:"created"`
	Updated                  time.Time                       `json:"updated"`
	Name                     string                          `json:"name"`
	Version                  *string                         `json:"version"`
	Description              *string                         `json:"description"`
	FlowID                   uuid.UUID                       `json:"flow_id"`
	Paused                   bool                            `json:"paused"`
	Schedules                []DeploymentSchedule            `json:"schedules"`
	ConcurrencyLimit         *int64                          `json:"concurrency_limit"`
	GlobalConcurrencyLimit   *GlobalConcurrencyLimitResponse `json:"global_concurrency_limit"`
	ConcurrencyOptions       *ConcurrencyOptions             `json:"concurrency_options"`
	JobVariables             json.RawMessage                 `json:"job_variables"`
	Parameters               json.RawMessage                 `json:"parameters"`
	Tags                     []string                        `json:"tags"`
	Labels                   map[string]any                  `json:"labels"`
	WorkQueueName            *string                         `json:"work_queue_name"`
	WorkQueueID              *uuid.UUID                      `json:"work_queue_id"`
	LastPolled               *time.Time                      `json:"last_polled"`
	ParameterOpenAPISchema   json.RawMessage                 `json:"parameter_openapi_schema"`
	Path                     *string                         `json:"path"`
	PullSteps                json.RawMessage                 `json:"pull_steps"`
	Entrypoint               *string                         `json:"entrypoint"`
	StorageDocumentID        *uuid.UUID                      `json:"storage_document_id"`
	InfrastructureDocumentID *uuid.UUID                      `json:"infrastructure_document_id"`
	CreatedBy                *CreatedBy                      `json:"created_by"`
	UpdatedBy                *CreatedBy                      `json:"updated_by"`
	WorkPoolName             *string                         `json:"work_pool_name"`
	Status                   string                          `json:"status"`
	EnforceParameterSchema   bool                            `json:"enforce_parameter_schema"`
}

// DeploymentSchedule is Prefect's DeploymentSchedule.
type DeploymentSchedule struct {
	ID               uuid.UUID       `json:"id"`
	Created          time.Time       `json:"created"`
	Updated          time.Time       `json:"updated"`
	DeploymentID     uuid.UUID       `json:"deployment_id"`
	Schedule         Schedule        `json:"schedule"`
	Active           bool            `json:"active"`
	MaxScheduledRuns *int64          `json:"max_scheduled_runs"`
	Parameters       json.RawMessage `json:"parameters"`
	Slug             *string         `json:"slug"`
}

// DeploymentFilter is Prefect's DeploymentFilter. Fields are raw criteria
// objects decoded by the storage filter builder, as for flows.
type DeploymentFilter struct {
	Operator             Operator                   `json:"operator,omitempty"`
	ID                   *FilterID                  `json:"id,omitempty"`
	Name                 *DeploymentFilterName      `json:"name,omitempty"`
	FlowOrDeploymentName *DeploymentFilterFlowOrDep `json:"flow_or_deployment_name,omitempty"`
	Paused               *DeploymentFilterPaused    `json:"paused,omitempty"`
	Tags                 *DeploymentFilterTags      `json:"tags,omitempty"`
	WorkQueueName        *FilterAnyNames            `json:"work_queue_name,omitempty"`
	ConcurrencyLimit     *DeploymentFilterConcLimit `json:"concurrency_limit,omitempty"`
}

// DeploymentFilterName matches names exactly (any_) or by case-insensitive substring (like_).
type DeploymentFilterName struct {
	Any  []string `json:"any_,omitempty"`
	Like *string  `json:"like_,omitempty"`
}

// DeploymentFilterFlowOrDep matches a substring of the deployment or its flow's name.
type DeploymentFilterFlowOrDep struct {
	Like *string `json:"like_,omitempty"`
}

// DeploymentFilterPaused matches the paused flag.
type DeploymentFilterPaused struct {
	EqualTo *bool `json:"eq_,omitempty"`
}

// DeploymentFilterTags matches tags: all_ must all be present, any_ one of them; is_null_ no tags.
type DeploymentFilterTags struct {
	Operator Operator `json:"operator,omitempty"`
	All      []string `json:"all_,omitempty"`
	Any      []string `json:"any_,omitempty"`
	IsNull   *bool    `json:"is_null_,omitempty"`
}

// DeploymentFilterConcLimit is deprecated in Prefect (it matches nothing special); kept for decoding.
type DeploymentFilterConcLimit struct {
	GreaterThanOrEqual *int64 `json:"ge_,omitempty"`
	LessThanOrEqual    *int64 `json:"le_,omitempty"`
	IsNull             *bool  `json:"is_null_,omitempty"`
}
