package apitype

import (
	"time"

	"github.com/google/uuid"
)

// SimpleFlowRun is one item of POST /ui/flow_runs/history. Durations are
// seconds.
type SimpleFlowRun struct {
	ID        uuid.UUID `json:"id"`
	StateType StateType `json:"state_type"`
	// Timestamp is the start time, or the expected start time when the run
	// has not started.
	Timestamp time.Time `json:"timestamp"`
	Duration  float64   `json:"duration"`
	Lateness  float64   `json:"lateness"`
}

// SimpleNextFlowRun is a flow's next scheduled run (POST /ui/flows/next-runs).
type SimpleNextFlowRun struct {
	ID                     uuid.UUID `json:"id"`
	FlowID                 uuid.UUID `json:"flow_id"`
	Name                   string    `json:"name"`
	StateName              string    `json:"state_name"`
	StateType              StateType `json:"state_type"`
	NextScheduledStartTime time.Time `json:"next_scheduled_start_time"`
}

// TaskRunCount is one bucket of POST /ui/task_runs/dashboard/counts.
type TaskRunCount struct {
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
}

// CountByState is Prefect's CountByState: a count for every state type,
// in Prefect's field order.
type CountByState struct {
	Completed  int64 `json:"COMPLETED"`
	Pending    int64 `json:"PENDING"`
	Running    int64 `json:"RUNNING"`
	Failed     int64 `json:"FAILED"`
	Cancelled  int64 `json:"CANCELLED"`
	Crashed    int64 `json:"CRASHED"`
	Paused     int64 `json:"PAUSED"`
	Cancelling int64 `json:"CANCELLING"`
	Scheduled  int64 `json:"SCHEDULED"`
}

// UITaskRun is a task run with its flow run's name (GET /ui/task_runs/{id}).
type UITaskRun struct {
	TaskRun
	FlowRunName *string `json:"flow_run_name"`
}
