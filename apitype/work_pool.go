package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Work pool, work queue and worker statuses (Prefect's statuses.py).
const (
	WorkPoolStatusReady    = "READY"
	WorkPoolStatusNotReady = "NOT_READY"
	WorkPoolStatusPaused   = "PAUSED"

	WorkQueueStatusReady    = "READY"
	WorkQueueStatusNotReady = "NOT_READY"
	WorkQueueStatusPaused   = "PAUSED"

	WorkerStatusOnline  = "ONLINE"
	WorkerStatusOffline = "OFFLINE"
)

// WorkPoolTypeAgent is the type of the pool that holds queues created without
// a pool (Prefect's "default-agent-pool"); such pools have no status.
const (
	WorkPoolTypeAgent       = "prefect-agent"
	DefaultAgentWorkPool    = "default-agent-pool"
	DefaultWorkQueueName    = "default"
	DefaultWorkQueueComment = "The work pool's default queue."
)

// WorkPoolStorageConfiguration is Prefect's WorkPoolStorageConfiguration.
type WorkPoolStorageConfiguration struct {
	BundleUploadStep            map[string]any `json:"bundle_upload_step"`
	BundleExecutionStep         map[string]any `json:"bundle_execution_step"`
	DefaultResultStorageBlockID *uuid.UUID     `json:"default_result_storage_block_id"`
}

// WorkPool is Prefect's WorkPoolResponse. Status is computed on read.
type WorkPool struct {
	ID                   uuid.UUID                    `json:"id"`
	Created              time.Time                    `json:"created"`
	Updated              time.Time                    `json:"updated"`
	Name                 string                       `json:"name"`
	Description          *string                      `json:"description"`
	Type                 string                       `json:"type"`
	BaseJobTemplate      json.RawMessage              `json:"base_job_template"`
	IsPaused             bool                         `json:"is_paused"`
	ConcurrencyLimit     *int64                       `json:"concurrency_limit"`
	Status               *string                      `json:"status"`
	DefaultQueueID       *uuid.UUID                   `json:"default_queue_id"`
	StorageConfiguration WorkPoolStorageConfiguration `json:"storage_configuration"`
	ActiveSlots          *int64                       `json:"active_slots"`
}

// WorkPoolUpdate is the body of PATCH /work_pools/{name}; nil fields are
// left unchanged (ConcurrencyLimitSet distinguishes an explicit null).
type WorkPoolUpdate struct {
	Description          *string
	DescriptionSet       bool
	IsPaused             *bool
	BaseJobTemplate      json.RawMessage
	ConcurrencyLimit     *int64
	ConcurrencyLimitSet  bool
	StorageConfiguration *WorkPoolStorageConfiguration
}

// QueueFilter is the legacy tag/deployment filter of a work queue.
type QueueFilter struct {
	Tags          []string    `json:"tags"`
	DeploymentIDs []uuid.UUID `json:"deployment_ids"`
}

// WorkQueue is Prefect's WorkQueueResponse. Status is computed on read.
type WorkQueue struct {
	ID               uuid.UUID    `json:"id"`
	Created          time.Time    `json:"created"`
	Updated          time.Time    `json:"updated"`
	Name             string       `json:"name"`
	Description      string       `json:"description"`
	IsPaused         bool         `json:"is_paused"`
	ConcurrencyLimit *int64       `json:"concurrency_limit"`
	Priority         int64        `json:"priority"`
	WorkPoolID       uuid.UUID    `json:"work_pool_id"`
	Filter           *QueueFilter `json:"filter"`
	LastPolled       *time.Time   `json:"last_polled"`
	WorkPoolName     string       `json:"work_pool_name"`
	Status           string       `json:"status"`
	ActiveSlots      *int64       `json:"active_slots"`
}

// WorkQueueUpdate changes a queue; nil fields are left unchanged.
type WorkQueueUpdate struct {
	Name                *string
	Description         *string
	IsPaused            *bool
	ConcurrencyLimit    *int64
	ConcurrencyLimitSet bool
	Priority            *int64
	LastPolled          *time.Time
}

// Worker is Prefect's WorkerResponse. Status is computed on read.
type Worker struct {
	ID                       uuid.UUID  `json:"id"`
	Created                  time.Time  `json:"created"`
	Updated                  time.Time  `json:"updated"`
	Name                     string     `json:"name"`
	WorkPoolID               uuid.UUID  `json:"work_pool_id"`
	LastHeartbeatTime        *time.Time `json:"last_heartbeat_time"`
	HeartbeatIntervalSeconds *int64     `json:"heartbeat_interval_seconds"`
	Status                   string     `json:"status"`
}

// WorkPoolFilter is Prefect's WorkPoolFilter.
type WorkPoolFilter struct {
	Operator Operator        `json:"operator,omitempty"`
	ID       *FilterIDAny    `json:"id,omitempty"`
	Name     *FilterAnyNames `json:"name,omitempty"`
	Type     *FilterAnyNames `json:"type,omitempty"`
}

// FilterIDAny is an `{any_}` criterion on an id column.
type FilterIDAny struct {
	Any []uuid.UUID `json:"any_,omitempty"`
}

// FilterAnyNames is an `{any_}` criterion on a text column.
type FilterAnyNames struct {
	Any []string `json:"any_,omitempty"`
}

// WorkQueueFilter is Prefect's WorkQueueFilter.
type WorkQueueFilter struct {
	Operator Operator             `json:"operator,omitempty"`
	ID       *FilterIDAny         `json:"id,omitempty"`
	Name     *WorkQueueFilterName `json:"name,omitempty"`
}

// WorkQueueFilterName matches names exactly (any_) or by case-insensitive prefix (startswith_).
type WorkQueueFilterName struct {
	Any        []string `json:"any_,omitempty"`
	StartsWith []string `json:"startswith_,omitempty"`
}

// WorkerFilter is Prefect's WorkerFilter.
type WorkerFilter struct {
	Operator          Operator                 `json:"operator,omitempty"`
	LastHeartbeatTime *WorkerFilterHeartbeat   `json:"last_heartbeat_time,omitempty"`
	Status            *WorkerFilterStatusField `json:"status,omitempty"`
}

// WorkerFilterHeartbeat bounds last_heartbeat_time (inclusive).
type WorkerFilterHeartbeat struct {
	Before *time.Time `json:"before_,omitempty"`
	After  *time.Time `json:"after_,omitempty"`
}

// WorkerFilterStatusField matches computed worker statuses.
type WorkerFilterStatusField struct {
	Any    []string `json:"any_,omitempty"`
	NotAny []string `json:"not_any_,omitempty"`
}
