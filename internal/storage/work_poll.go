package storage

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Slot-occupying states. Prefect counts PENDING and RUNNING against pool and
// queue limits when a worker polls a pool, and adds CANCELLING for the
// legacy /work_queues/{id} reads and polls.
var (
	PoolSlotStates  = []apitype.StateType{apitype.StateTypePending, apitype.StateTypeRunning}
	QueueSlotStates = []apitype.StateType{apitype.StateTypePending, apitype.StateTypeRunning, apitype.StateTypeCancelling}
)

// WorkPollStore finds the scheduled runs workers and runners poll for, and
// the runs holding pool and queue concurrency slots. Polls only read runs:
// a worker claims a run by proposing PENDING through orchestration, which
// locks the run, so two workers that got the same run cannot both win.
type WorkPollStore interface {
	// WorkPoolScheduledRuns is Prefect's get_scheduled_flow_runs_from_work_pool
	// for one pool: SCHEDULED runs (not in-process retries) of its queues,
	// none when the pool is paused, none from paused queues, at most the
	// free slots of each queue and of the pool (PoolSlotStates), ordered by
	// queue priority then next_scheduled_start_time.
	WorkPoolScheduledRuns(ctx context.Context, p *WorkPoolRunsParams) ([]apitype.WorkerFlowRun, error)
	// WorkQueueScheduledRuns returns a queue's SCHEDULED runs, soonest first,
	// at most the queue's free slots (QueueSlotStates); none when paused.
	// A queue's runs are those with its id, or no queue id and its name.
	WorkQueueScheduledRuns(ctx context.Context, queueID uuid.UUID, before *time.Time, limit int) ([]apitype.FlowRun, error)
	// DeploymentScheduledRuns returns the SCHEDULED runs of the (existing)
	// deployments, soonest first.
	DeploymentScheduledRuns(ctx context.Context, deploymentIDs []uuid.UUID, before *time.Time, limit int) ([]apitype.FlowRun, error)
	// WorkQueuesMarkPolled sets last_polled to now on the queues and returns
	// the ids of the deployments that use them.
	WorkQueuesMarkPolled(ctx context.Context, queueIDs []uuid.UUID, now time.Time) ([]uuid.UUID, error)

	// WorkPoolActiveSlots counts, per pool, the runs of its queues in
	// PoolSlotStates. Pools without such runs are absent.
	WorkPoolActiveSlots(ctx context.Context, poolIDs []uuid.UUID) (map[uuid.UUID]int64, error)
	// WorkQueueActiveSlots counts, per queue id, the runs in one of states.
	WorkQueueActiveSlots(ctx context.Context, queueIDs []uuid.UUID, states []apitype.StateType) (map[uuid.UUID]int64, error)
	// WorkQueueSlotHolders lists runs in one of p.States in the queues,
	// ordered by id, with the total before Limit/Offset.
	WorkQueueSlotHolders(ctx context.Context, p *SlotHoldersParams) ([]SlotHolder, int64, error)
	// WorkQueueLateRuns counts the queue's runs whose state is named "Late".
	WorkQueueLateRuns(ctx context.Context, queueID uuid.UUID) (int64, error)
}

// WorkPoolRunsParams selects the runs of one pool poll.
type WorkPoolRunsParams struct {
	PoolID          uuid.UUID
	QueueIDs        []uuid.UUID // nil: every queue of the pool
	ScheduledBefore *time.Time  // inclusive
	ScheduledAfter  *time.Time  // inclusive
	Limit           int
}

// SlotHoldersParams selects slot-holding runs. ByName also matches runs
// with no queue id whose work_queue_name is the queue's name (runs
// created before the queue, as Prefect's queue-level status does).
type SlotHoldersParams struct {
	QueueIDs []uuid.UUID
	States   []apitype.StateType
	ByName   bool
	Limit    int // 0: no limit
	Offset   int
}

// SlotHolder is a run holding a slot of the queue WorkQueueID.
type SlotHolder struct {
	apitype.FlowRunSlotSummary
	WorkQueueID *uuid.UUID
}

// StateTypeStrings converts state types for SQL IN lists.
func StateTypeStrings(states []apitype.StateType) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// PollDialect holds the two fragments the pool-poll query spells per engine.
type PollDialect struct {
	Greatest  string // the two-argument maximum: MAX (SQLite), GREATEST (Postgres)
	RetryType string // fr.empirical_policy's retry_type as text
}

// WorkPoolRunsSQL renders WorkPoolScheduledRuns' query: it selects the
// queue id, then runCols of flow_run, in poll order. Free slots are the
// limit less the runs in PoolSlotStates; the pool counts the runs of all
// its queues, paused or not (paused queues' runs still use the pool).
func (w *Where) WorkPoolRunsSQL(p *WorkPoolRunsParams, runCols string, d PollDialect) string {
	slots := w.d.In(w, "fr.state_type", StateTypeStrings(PoolSlotStates))
	q := `WITH pool_slots AS (
		SELECT ` + d.Greatest + `(0, wp.concurrency_limit - COUNT(fr.id)) AS available
		FROM work_pool wp
		JOIN work_queue wq ON wq.work_pool_id = wp.id
		LEFT JOIN flow_run fr ON fr.work_queue_id = wq.id AND ` + slots + `
		WHERE ` + w.d.InIDs(w, "wp.id", []uuid.UUID{p.PoolID}) + ` AND wp.concurrency_limit IS NOT NULL
		GROUP BY wp.id, wp.concurrency_limit
	), queue_slots AS (
		SELECT wq.id, ` + d.Greatest + `(0, wq.concurrency_limit - COUNT(fr.id)) AS available
		FROM work_queue wq
		LEFT JOIN flow_run fr ON fr.work_queue_id = wq.id AND ` + w.d.In(w, "fr.state_type", StateTypeStrings(PoolSlotStates)) + `
		WHERE ` + w.d.InIDs(w, "wq.work_pool_id", []uuid.UUID{p.PoolID}) + ` AND wq.concurrency_limit IS NOT NULL
		GROUP BY wq.id, wq.concurrency_limit
	), candidates AS (
		SELECT fr.id AS run_id, wq.id AS queue_id, wq.priority AS queue_priority,
			fr.next_scheduled_start_time AS run_start, qs.available AS queue_available,
			ROW_NUMBER() OVER (PARTITION BY wq.id ORDER BY fr.next_scheduled_start_time, fr.id) AS queue_rank
		FROM work_pool wp
		JOIN work_queue wq ON wq.work_pool_id = wp.id
		JOIN flow_run fr ON fr.work_queue_id = wq.id
		LEFT JOIN queue_slots qs ON qs.id = wq.id
		WHERE ` + w.d.InIDs(w, "wp.id", []uuid.UUID{p.PoolID}) + ` AND NOT wp.is_paused AND NOT wq.is_paused
			AND fr.state_type = 'SCHEDULED'
			AND COALESCE(` + d.RetryType + `, '') <> 'in_process'`
	if p.QueueIDs != nil {
		q += ` AND ` + w.d.InIDs(w, "wq.id", p.QueueIDs)
	}
	if p.ScheduledAfter != nil {
		q += ` AND fr.next_scheduled_start_time >= ` + w.bindTime(*p.ScheduledAfter)
	}
	if p.ScheduledBefore != nil {
		q += ` AND fr.next_scheduled_start_time <= ` + w.bindTime(*p.ScheduledBefore)
	}
	q += `
	), ranked AS (
		SELECT run_id, queue_id,
			ROW_NUMBER() OVER (ORDER BY queue_priority, run_start, run_id) AS pool_rank
		FROM candidates
		WHERE queue_available IS NULL OR queue_rank <= queue_available
	)
	SELECT ranked.queue_id, ` + runCols + `
	FROM ranked JOIN flow_run ON flow_run.id = ranked.run_id
	WHERE ranked.pool_rank <= COALESCE((SELECT available FROM pool_slots), ranked.pool_rank)
	ORDER BY ranked.pool_rank
	LIMIT ` + w.Bind(p.Limit)
	return q
}
