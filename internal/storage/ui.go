package storage

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// UIStore holds the aggregate reads behind the UI's list and dashboard
// pages (/ui/*, /flow_runs/lateness). Every aggregate is computed by the
// database: these pages are polled on databases with millions of runs.
type UIStore interface {
	// FlowRunSimpleList is FlowRunList reduced to the columns of the UI's
	// run history chart. Runs without a state or without any start time
	// (start_time, expected_start_time) are skipped: they cannot be drawn.
	FlowRunSimpleList(ctx context.Context, p *RunListParams) ([]SimpleFlowRun, error)
	// TaskRunCountsByFlowRun counts, per flow run, its task runs that do not
	// track a subflow. Flow runs without any are absent from the map.
	TaskRunCountsByFlowRun(ctx context.Context, flowRunIDs []uuid.UUID) (map[uuid.UUID]int64, error)
	// NextScheduledFlowRuns returns, per flow, its SCHEDULED run with the
	// earliest next_scheduled_start_time (ties: the smallest id). Flows
	// without one are absent; runs without a next start time are ignored.
	NextScheduledFlowRuns(ctx context.Context, flowIDs []uuid.UUID) (map[uuid.UUID]NextFlowRun, error)
	// TaskRunCountsByState counts the matching task runs per state type;
	// runs without a state are not counted.
	TaskRunCountsByState(ctx context.Context, q *RunQuery) (map[apitype.StateType]int64, error)
	// TaskRunStartBuckets counts the matching task runs per start-time
	// bucket: bucket i holds start times in [start+i*width, start+(i+1)*width),
	// for i in [0, n). Runs without a start time or outside the buckets are
	// not counted. The result has n entries.
	TaskRunStartBuckets(ctx context.Context, q *RunQuery, start time.Time, width time.Duration, n int) ([]StateTypeCounts, error)
	// FlowRunAverageLateness is the mean, over the matching flow runs, of
	// Prefect's estimated start time delta in seconds at now (a run that is
	// not late counts as 0). nil when no run matches.
	FlowRunAverageLateness(ctx context.Context, q *RunQuery, now time.Time) (*float64, error)
}

// SimpleFlowRun is one point of the UI's flow run history chart.
type SimpleFlowRun struct {
	ID                uuid.UUID
	StateType         apitype.StateType
	StateTimestamp    *time.Time
	StartTime         *time.Time
	ExpectedStartTime *time.Time
	TotalRunTime      time.Duration
}

// NextFlowRun is a flow's next scheduled run.
type NextFlowRun struct {
	ID                     uuid.UUID
	FlowID                 uuid.UUID
	Name                   string
	StateName              string
	StateType              apitype.StateType
	NextScheduledStartTime time.Time
}

// StateTypeCounts counts runs per state type within one bucket.
type StateTypeCounts map[apitype.StateType]int64
