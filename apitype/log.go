package apitype

import (
	"time"

	"github.com/google/uuid"
)

// Log is Prefect's `Log` response schema. Timestamp is the client-side time
// of the record; Created is when the server stored it.
type Log struct {
	ID        uuid.UUID  `json:"id"`
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
	Name      string     `json:"name"`
	Level     int        `json:"level"`
	Message   string     `json:"message"`
	Timestamp time.Time  `json:"timestamp"`
	FlowRunID *uuid.UUID `json:"flow_run_id"`
	TaskRunID *uuid.UUID `json:"task_run_id"`
}

// LogCreate is one element of the body of POST /logs/ (a JSON list).
type LogCreate struct {
	Name      string     `json:"name"`
	Level     int        `json:"level"`
	Message   string     `json:"message"`
	Timestamp time.Time  `json:"timestamp"`
	FlowRunID *uuid.UUID `json:"flow_run_id,omitempty"`
	TaskRunID *uuid.UUID `json:"task_run_id,omitempty"`
}

// LogSort values accepted by /logs/filter.
const (
	LogSortTimestampAsc  = "TIMESTAMP_ASC"
	LogSortTimestampDesc = "TIMESTAMP_DESC"
)

// LogTextQueryMaxLength is the cap on LogFilterTextSearch.query.
const LogTextQueryMaxLength = 200

// LogFilter is Prefect's LogFilter. Nil criteria are ignored.
type LogFilter struct {
	Operator  Operator            `json:"operator,omitempty"`
	Level     *LogFilterLevel     `json:"level,omitempty"`
	Timestamp *LogFilterTimestamp `json:"timestamp,omitempty"`
	FlowRunID *LogFilterFlowRunID `json:"flow_run_id,omitempty"`
	TaskRunID *LogFilterTaskRunID `json:"task_run_id,omitempty"`
	Text      *LogFilterText      `json:"text,omitempty"`
}

// LogFilterLevel bounds the level, both ends inclusive.
type LogFilterLevel struct {
	Ge *int `json:"ge_,omitempty"`
	Le *int `json:"le_,omitempty"`
}

// LogFilterTimestamp bounds the timestamp: before_ is "at or before",
// after_ is "at or after".
type LogFilterTimestamp struct {
	Before *time.Time `json:"before_,omitempty"`
	After  *time.Time `json:"after_,omitempty"`
}

// LogFilterFlowRunID matches logs of the listed flow runs.
type LogFilterFlowRunID struct {
	Any []uuid.UUID `json:"any_,omitempty"`
}

// LogFilterTaskRunID matches logs of the listed task runs; is_null_ true
// keeps only logs without a task run.
type LogFilterTaskRunID struct {
	Any    []uuid.UUID `json:"any_,omitempty"`
	IsNull *bool       `json:"is_null_,omitempty"`
}

// LogFilterText is Prefect's LogFilterTextSearch: a case-insensitive search
// of "message name" with the syntax of ParseLogTextQuery.
type LogFilterText struct {
	Query string `json:"query"`
}

// LogFilterBody is the body of POST /logs/filter. Nil Limit means the server
// default.
type LogFilterBody struct {
	Logs   *LogFilter `json:"logs,omitempty"`
	Sort   string     `json:"sort,omitempty"`
	Limit  *int       `json:"limit,omitempty"`
	Offset int        `json:"offset,omitempty"`
}
