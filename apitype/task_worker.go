package apitype

import "time"

// TaskWorker is Prefect's TaskWorkerResponse: a task worker connected to
// /task_runs/subscriptions/scheduled and the task keys it serves.
type TaskWorker struct {
	Identifier string    `json:"identifier"`
	TaskKeys   []string  `json:"task_keys"`
	Timestamp  time.Time `json:"timestamp"`
}

// TaskWorkerFilter selects task workers serving any of TaskKeys (empty:
// all of them).
type TaskWorkerFilter struct {
	TaskKeys []string `json:"task_keys"`
}
