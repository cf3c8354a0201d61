package apitype

import (
	"time"

	"github.com/google/uuid"
)

// WorkerFlowRun is Prefect's WorkerFlowRunResponse: a scheduled run a
// worker may pick up, with the pool and queue it was found in.
type WorkerFlowRun struct {
	WorkPoolID  uuid.UUID `json:"work_pool_id"`
	WorkQueueID uuid.UUID `json:"work_queue_id"`
	FlowRun     FlowRun   `json:"flow_run"`
}

// FlowRunSlotSummary is Prefect's FlowRunSlotSummary: a run holding a
// pool or queue concurrency slot. TimeInCurrentState is in seconds.
type FlowRunSlotSummary struct {
	ID                 uuid.UUID  `json:"id"`
	Name               string     `json:"name"`
	StateType          *StateType `json:"state_type"`
	StateName          *string    `json:"state_name"`
	StartTime          *time.Time `json:"start_time"`
	StateTimestamp     *time.Time `json:"state_timestamp"`
	TimeInCurrentState *float64   `json:"time_in_current_state"`
}

// WorkQueueConcurrencyStatus is Prefect's WorkQueueConcurrencyStatus, one
// page of a queue's slot holders.
type WorkQueueConcurrencyStatus struct {
	ActiveSlots      int64                `json:"active_slots"`
	ConcurrencyLimit *int64               `json:"concurrency_limit"`
	FlowRuns         []FlowRunSlotSummary `json:"flow_runs"`
	Count            int64                `json:"count"`
	Limit            int                  `json:"limit"`
	Pages            int64                `json:"pages"`
	Page             int                  `json:"page"`
}

// WorkQueueConcurrencyStatusDetail is one queue of a WorkPoolConcurrencyStatus.
type WorkQueueConcurrencyStatusDetail struct {
	QueueID          uuid.UUID            `json:"queue_id"`
	QueueName        string               `json:"queue_name"`
	ActiveSlots      int64                `json:"active_slots"`
	ConcurrencyLimit *int64               `json:"concurrency_limit"`
	FlowRuns         []FlowRunSlotSummary `json:"flow_runs"`
	FlowRunCount     int64                `json:"flow_run_count"`
}

// WorkPoolConcurrencyStatus is Prefect's WorkPoolConcurrencyStatus: the
// pool's slot count and one page of its queues.
type WorkPoolConcurrencyStatus struct {
	ActiveSlots      int64                              `json:"active_slots"`
	ConcurrencyLimit *int64                             `json:"concurrency_limit"`
	Queues           []WorkQueueConcurrencyStatusDetail `json:"queues"`
	Count            int64                              `json:"count"`
	Limit            int                                `json:"limit"`
	Pages            int64                              `json:"pages"`
	Page             int                                `json:"page"`
}

// WorkQueueHealthPolicy is Prefect's WorkQueueHealthPolicy.
type WorkQueueHealthPolicy struct {
	MaximumLateRuns               *int64 `json:"maximum_late_runs"`
	MaximumSecondsSinceLastPolled *int64 `json:"maximum_seconds_since_last_polled"`
}

// WorkQueueStatusDetail is Prefect's WorkQueueStatusDetail.
type WorkQueueStatusDetail struct {
	Healthy           bool                  `json:"healthy"`
	LateRunsCount     int64                 `json:"late_runs_count"`
	LastPolled        *time.Time            `json:"last_polled"`
	HealthCheckPolicy WorkQueueHealthPolicy `json:"health_check_policy"`
}
