package storage

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// DeploymentStore persists deployments and their schedules.
type DeploymentStore interface {
	// DeploymentUpsert creates the deployment, or updates the one with the
	// same (flow, name) in place (Prefect's POST /deployments/ upsert: the id
	// and created_by are kept, every other field replaced, the schedules
	// replaced by p.Schedules — none when empty — and the future
	// auto-scheduled runs deleted). Resolves the work queue from
	// WorkPoolName / WorkQueueName (ErrNotFound when the pool is missing),
	// creating a missing queue as Prefect does (a queue without a pool goes
	// to the default agent pool, itself created when missing). A missing
	// flow is ErrConflict. created=false for an update.
	DeploymentUpsert(ctx context.Context, p *DeploymentUpsertParams) (d *apitype.Deployment, created bool, err error)
	DeploymentGet(ctx context.Context, id uuid.UUID) (*apitype.Deployment, error)
	DeploymentGetByName(ctx context.Context, flowName, name string) (*apitype.Deployment, error)
	DeploymentList(ctx context.Context, p *DeploymentListParams) ([]apitype.Deployment, error)
	DeploymentCount(ctx context.Context, q *DeploymentQuery) (int64, error)
	// DeploymentUpdate applies a PATCH (nil fields unchanged) and, as
	// Prefect, deletes the future auto-scheduled runs. ErrNotFound when the
	// deployment or the named work pool is missing.
	DeploymentUpdate(ctx context.Context, id uuid.UUID, u *DeploymentUpdateParams) error
	// DeploymentDelete deletes the deployment with its schedules, its v2
	// concurrency limit and its runs still SCHEDULED that never ran.
	DeploymentDelete(ctx context.Context, id uuid.UUID) error
	// DeploymentDeleteMany deletes (as DeploymentDelete) the first limit
	// matching deployments by name and returns their ids.
	DeploymentDeleteMany(ctx context.Context, q *DeploymentQuery, limit int) ([]uuid.UUID, error)

	DeploymentScheduleList(ctx context.Context, deploymentID uuid.UUID) ([]apitype.DeploymentSchedule, error)
	// DeploymentSchedulesCreate adds schedules (ErrConflict on a taken slug).
	DeploymentSchedulesCreate(ctx context.Context, deploymentID uuid.UUID, s []DeploymentScheduleParams, now time.Time) ([]apitype.DeploymentSchedule, error)
	DeploymentScheduleUpdate(ctx context.Context, deploymentID, scheduleID uuid.UUID, u *DeploymentScheduleUpdate, now time.Time) error
	DeploymentScheduleDelete(ctx context.Context, deploymentID, scheduleID uuid.UUID) error
	// DeploymentDeleteScheduledRuns deletes the deployment's auto-scheduled
	// runs still SCHEDULED (not AwaitingConcurrencySlot) that never ran and
	// are due after now — all of them, or those created by one schedule —
	// as Prefect does when schedules change or the deployment is paused. A
	// zero now drops the "after now" condition (Prefect's pause). Returns
	// how many were deleted.
	DeploymentDeleteScheduledRuns(ctx context.Context, deploymentID uuid.UUID, scheduleID *uuid.UUID, now time.Time) (int64, error)

	// DeploymentsMarkPolled records a poll at now (last_polled, status READY)
	// and returns the ids whose status changed from NOT_READY.
	DeploymentsMarkPolled(ctx context.Context, ids []uuid.UUID, now time.Time) ([]uuid.UUID, error)
	// DeploymentsMarkNotReady sets NOT_READY on READY deployments not polled
	// since cutoff (the foreman) and returns their ids.
	DeploymentsMarkNotReady(ctx context.Context, cutoff, now time.Time) ([]uuid.UUID, error)
}

// DeploymentTx is the part of RunTx the deployment concurrency rules use.
type DeploymentTx interface {
	// LockDeploymentConcurrency reads the deployment's concurrency settings
	// and locks its v2 limit row for the rest of the transaction (the same
	// lock order as LockConcurrencyLimitsByName). nil when the deployment
	// does not exist.
	LockDeploymentConcurrency(ctx context.Context, id uuid.UUID) (*DeploymentConcurrency, error)
}

// DeploymentConcurrency is a deployment's concurrency configuration: its v2
// limit as stored (nil when none) and its options (nil when unset).
type DeploymentConcurrency struct {
	DeploymentID uuid.UUID
	Limit        *apitype.ConcurrencyLimitV2
	Options      *apitype.ConcurrencyOptions
}

// DeploymentQuery is the cross-entity filter of the deployment read
// endpoints: a deployment matches Deployments, its flow matches Flows, and
// (when set) it has a flow run matching FlowRuns; WorkPools and WorkQueues
// constrain its work queue and that queue's pool.
type DeploymentQuery struct {
	Deployments *apitype.DeploymentFilter
	Flows       *apitype.FlowFilter
	FlowRuns    *apitype.FlowRunFilter
	TaskRuns    *apitype.TaskRunFilter
	WorkPools   *apitype.WorkPoolFilter
	WorkQueues  *apitype.WorkQueueFilter
}

// DeploymentListParams selects a page of deployments; Sort is an
// apitype.DeploymentSort* value ("" is NAME_ASC).
type DeploymentListParams struct {
	DeploymentQuery
	Sort   string
	Limit  int
	Offset int
}

// DeploymentUpsertParams is a validated POST /deployments/ body. IDs are
// generated by the caller (ID is used only for a new deployment).
//
// Given lists the body's fields (JSON names): as Prefect's upsert, an update
// replaces only those (plus labels, the work queue when a pool or queue is
// named, and the schedules). ConcurrencyLimitSet and
// GlobalConcurrencyLimitIDSet say whether those keys were sent (null
// included): concurrency_limit creates, updates or deletes the deployment's
// own v2 limit; global_concurrency_limit_id points at an existing one.
type DeploymentUpsertParams struct {
	Given                       map[string]bool
	ConcurrencyLimitSet         bool
	GlobalConcurrencyLimitIDSet bool
	ID                          uuid.UUID
	FlowID                      uuid.UUID
	Name                        string
	Version                     *string
	VersionInfo                 json.RawMessage
	Description                 *string
	Paused                      bool
	Schedules                   []DeploymentScheduleParams // replaces the schedules (none when empty)
	ConcurrencyLimit            *int64                     // creates/updates the deployment's v2 limit
	ConcurrencyOptions          *apitype.ConcurrencyOptions
	GlobalConcurrencyLimitID    *uuid.UUID
	JobVariables                json.RawMessage
	Parameters                  json.RawMessage
	ParameterOpenAPISchema      json.RawMessage
	EnforceParameterSchema      bool
	Tags                        []string
	Labels                      map[string]any
	WorkPoolName                *string
	WorkQueueName               *string
	Path                        *string
	Entrypoint                  *string
	PullSteps                   json.RawMessage
	StorageDocumentID           *uuid.UUID
	InfrastructureDocumentID    *uuid.UUID
	CreatedBy                   *apitype.CreatedBy
	UpdatedBy                   *apitype.CreatedBy
	Now                         time.Time
}

// DeploymentUpdateParams is a validated PATCH body; nil pointers are left
// unchanged, the *Set flags distinguish an explicit null.
type DeploymentUpdateParams struct {
	Version     *string
	Description *string
	Paused      *bool
	Schedules   []DeploymentScheduleParams // non-nil replaces all schedules
	// SchedulePatches update schedules found by slug and SchedulesAdd adds
	// schedules (Prefect's slug-matched PATCH); both need Schedules nil.
	SchedulePatches          []DeploymentSchedulePatch
	SchedulesAdd             []DeploymentScheduleParams
	ConcurrencyLimit         *int64
	ConcurrencyLimitSet      bool
	ConcurrencyOptions       *apitype.ConcurrencyOptions
	ConcurrencyOptionsSet    bool
	GlobalConcurrencyLimitID *uuid.UUID
	// GlobalConcurrencyLimitIDSet: global_concurrency_limit_id was sent
	// (null detaches the limit without deleting it).
	GlobalConcurrencyLimitIDSet bool
	Parameters                  json.RawMessage
	ParameterOpenAPISchema      json.RawMessage
	Tags                        []string
	// WorkPoolNameSet with a nil WorkPoolName detaches the work queue.
	WorkPoolNameSet          bool
	WorkPoolName             *string
	WorkQueueName            *string
	Path                     *string
	JobVariables             json.RawMessage
	PullSteps                json.RawMessage
	Entrypoint               *string
	StorageDocumentID        *uuid.UUID
	InfrastructureDocumentID *uuid.UUID
	EnforceParameterSchema   *bool
	UpdatedBy                *apitype.CreatedBy
	Now                      time.Time
}

// DeploymentScheduleParams creates one schedule (ID generated by the caller).
type DeploymentScheduleParams struct {
	ID               uuid.UUID
	Schedule         apitype.Schedule
	Active           bool
	MaxScheduledRuns *int64
	Parameters       json.RawMessage
	Slug             *string
}

// DeploymentScheduleUpdate changes one schedule; nil fields are unchanged.
type DeploymentScheduleUpdate struct {
	Schedule         *apitype.Schedule
	Active           *bool
	MaxScheduledRuns *int64
	Parameters       json.RawMessage
	Slug             *string
}

// DeploymentSchedulePatch updates the deployment's schedule whose slug is
// Target (ErrNotFound when none); a different Update.Slug renames it.
type DeploymentSchedulePatch struct {
	Target string
	Update DeploymentScheduleUpdate
}
