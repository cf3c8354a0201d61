package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

var pollDialect = storage.PollDialect{Greatest: "GREATEST", RetryType: "(fr.empirical_policy->>'retry_type')"}

// prefixScanner scans leading extra columns before a flow run's.
type prefixScanner struct {
	r   pgx.Row
	pre []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.r.Scan(append(p.pre, dest...)...) }

// WorkPoolScheduledRuns implements storage.WorkPollStore. The query only
// reads: a worker claims a run by proposing PENDING, which orchestration
// decides under the run's row lock.
func (s *Store) WorkPoolScheduledRuns(ctx context.Context, p *storage.WorkPoolRunsParams) ([]apitype.WorkerFlowRun, error) {
	if p.Limit <= 0 {
		return []apitype.WorkerFlowRun{}, nil
	}
	w := storage.NewWhere(dialect{})
	q := w.WorkPoolRunsSQL(p, flowRunColumns, pollDialect)
	scan := func(r pgx.Row) (*apitype.WorkerFlowRun, error) {
		out := &apitype.WorkerFlowRun{WorkPoolID: p.PoolID}
		fr, err := scanFlowRun(prefixScanner{r, []any{&out.WorkQueueID}})
		if err != nil {
			return nil, err
		}
		out.FlowRun = *fr
		return out, nil
	}
	return listRuns(ctx, s, flowRunKind, q, w.Args, scan, func(r *apitype.WorkerFlowRun) (*uuid.UUID, **apitype.State) {
		return r.FlowRun.StateID, &r.FlowRun.State
	})
}

// queueMatch is the runs of the queue aliased wq: its id, or no id and its name.
const queueMatch = `(fr.work_queue_id = wq.id OR (fr.work_queue_id IS NULL AND fr.work_queue_name = wq.name))`

// qualified prefixes every column of a column list with a table alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// WorkQueueScheduledRuns implements storage.WorkPollStore.
func (s *Store) WorkQueueScheduledRuns(ctx context.Context, queueID uuid.UUID, before *time.Time, limit int) ([]apitype.FlowRun, error) {
	var (
		paused bool
		cl     *int64
		used   int64
	)
	w := storage.NewWhere(dialect{})
	err := s.pool.QueryRow(ctx, `SELECT wq.is_paused, wq.concurrency_limit,
		(SELECT COUNT(*) FROM flow_run fr WHERE `+queueMatch+` AND `+
		dialect{}.In(w, "fr.state_type", storage.StateTypeStrings(storage.QueueSlotStates))+`)
		FROM work_queue wq WHERE wq.id = `+w.Bind(queueID), w.Args...).Scan(&paused, &cl, &used)
	if err != nil {
		return nil, fmt.Errorf("read work queue: %w", interpretError(err))
	}
	if cl != nil {
		limit = min(limit, max(0, int(*cl-used)))
	}
	if paused || limit <= 0 {
		return []apitype.FlowRun{}, nil
	}
	w = storage.NewWhere(dialect{})
	q := `SELECT ` + qualified("fr", flowRunColumns) + ` FROM flow_run fr JOIN work_queue wq ON ` + queueMatch +
		` WHERE wq.id = ` + w.Bind(queueID) + ` AND fr.state_type = 'SCHEDULED'`
	if before != nil {
		q += ` AND fr.next_scheduled_start_time <= ` + w.Bind(storage.DBTime(*before))
	}
	q += ` ORDER BY fr.next_scheduled_start_time, fr.id LIMIT ` + w.Bind(limit)
	return listRuns(ctx, s, flowRunKind, q, w.Args, scanFlowRun, func(r *apitype.FlowRun) (*uuid.UUID, **apitype.State) {
		return r.StateID, &r.State
	})
}

// DeploymentScheduledRuns implements storage.WorkPollStore.
func (s *Store) DeploymentScheduledRuns(ctx context.Context, ids []uuid.UUID, before *time.Time, limit int) ([]apitype.FlowRun, error) {
	if limit <= 0 || len(ids) == 0 {
		return []apitype.FlowRun{}, nil
	}
	w := storage.NewWhere(dialect{})
	q := `SELECT ` + flowRunColumns + ` FROM flow_run WHERE state_type = 'SCHEDULED' AND ` +
		dialect{}.InIDs(w, "deployment_id", ids) + ` AND deployment_id IN (SELECT id FROM deployment)`
	if before != nil {
		q += ` AND next_scheduled_start_time <= ` + w.Bind(storage.DBTime(*before))
	}
	q += ` ORDER BY next_scheduled_start_time, id LIMIT ` + w.Bind(limit)
	return listRuns(ctx, s, flowRunKind, q, w.Args, scanFlowRun, func(r *apitype.FlowRun) (*uuid.UUID, **apitype.State) {
		return r.StateID, &r.State
	})
}

// WorkQueuesMarkPolled implements storage.WorkPollStore.
func (s *Store) WorkQueuesMarkPolled(ctx context.Context, queueIDs []uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	if len(queueIDs) == 0 {
		return nil, nil
	}
	var deployments []uuid.UUID
	err := s.write(ctx, func(tx pgx.Tx) error {
		// Rows are locked in id order, so overlapping polls cannot deadlock.
		if _, err := tx.Exec(ctx, `UPDATE work_queue SET last_polled = $1 WHERE id IN
			(SELECT id FROM work_queue WHERE id = ANY($2::uuid[]) ORDER BY id FOR UPDATE)`,
			storage.DBTime(now), queueIDs); err != nil {
			return fmt.Errorf("mark work queues polled: %w", interpretError(err))
		}
		rows, err := tx.Query(ctx, `SELECT id FROM deployment WHERE work_queue_id = ANY($1::uuid[]) ORDER BY id`, queueIDs)
		if err != nil {
			return fmt.Errorf("list deployments: %w", interpretError(err))
		}
		deployments, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("list deployments: %w", interpretError(err))
		}
		return nil
	})
	return deployments, err
}

// countByID runs a query selecting (id, count) pairs.
func (s *Store) countByID(ctx context.Context, query string, args ...any) (map[uuid.UUID]int64, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count slots: %w", interpretError(err))
	}
	defer rows.Close()
	out := map[uuid.UUID]int64{}
	for rows.Next() {
		var (
			id uuid.UUID
			n  int64
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count slots: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count slots: %w", interpretError(err))
	}
	return out, nil
}

// WorkPoolActiveSlots implements storage.WorkPollStore.
func (s *Store) WorkPoolActiveSlots(ctx context.Context, poolIDs []uuid.UUID) (map[uuid.UUID]int64, error) {
	if len(poolIDs) == 0 {
		return map[uuid.UUID]int64{}, nil
	}
	w := storage.NewWhere(dialect{})
	return s.countByID(ctx, `SELECT wq.work_pool_id, COUNT(*) FROM flow_run fr JOIN work_queue wq ON wq.id = fr.work_queue_id
		WHERE `+dialect{}.InIDs(w, "wq.work_pool_id", poolIDs)+` AND `+
		dialect{}.In(w, "fr.state_type", storage.StateTypeStrings(storage.PoolSlotStates))+
		` GROUP BY wq.work_pool_id`, w.Args...)
}

// WorkQueueActiveSlots implements storage.WorkPollStore.
func (s *Store) WorkQueueActiveSlots(ctx context.Context, queueIDs []uuid.UUID, states []apitype.StateType) (map[uuid.UUID]int64, error) {
	if len(queueIDs) == 0 {
		return map[uuid.UUID]int64{}, nil
	}
	w := storage.NewWhere(dialect{})
	return s.countByID(ctx, `SELECT work_queue_id, COUNT(*) FROM flow_run WHERE `+dialect{}.InIDs(w, "work_queue_id", queueIDs)+
		` AND `+dialect{}.In(w, "state_type", storage.StateTypeStrings(states))+` GROUP BY work_queue_id`, w.Args...)
}

// WorkQueueSlotHolders implements storage.WorkPollStore.
func (s *Store) WorkQueueSlotHolders(ctx context.Context, p *storage.SlotHoldersParams) ([]storage.SlotHolder, int64, error) {
	out := []storage.SlotHolder{}
	if len(p.QueueIDs) == 0 {
		return out, 0, nil
	}
	match := `fr.work_queue_id = wq.id`
	if p.ByName {
		match = queueMatch
	}
	w := storage.NewWhere(dialect{})
	from := ` FROM flow_run fr JOIN work_queue wq ON ` + match + ` WHERE ` + dialect{}.InIDs(w, "wq.id", p.QueueIDs) +
		` AND ` + dialect{}.In(w, "fr.state_type", storage.StateTypeStrings(p.States))
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*)`+from, w.Args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count slot holders: %w", interpretError(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT fr.id, fr.name, fr.state_type, fr.state_name, fr.start_time,
		fr.state_timestamp, wq.id`+from+` ORDER BY fr.id`+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list slot holders: %w", interpretError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h         storage.SlotHolder
			stateType *string
			queueID   uuid.UUID
		)
		if err := rows.Scan(&h.ID, &h.Name, &stateType, &h.StateName, &h.StartTime, &h.StateTimestamp, &queueID); err != nil {
			return nil, 0, fmt.Errorf("list slot holders: %w", err)
		}
		h.WorkQueueID = &queueID
		if stateType != nil {
			st := apitype.StateType(*stateType)
			h.StateType = &st
		}
		h.StartTime, h.StateTimestamp = utcPtr(h.StartTime), utcPtr(h.StateTimestamp)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list slot holders: %w", interpretError(err))
	}
	return out, total, nil
}

// WorkQueueLateRuns implements storage.WorkPollStore.
func (s *Store) WorkQueueLateRuns(ctx context.Context, queueID uuid.UUID) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM flow_run WHERE work_queue_id = $1 AND state_name = 'Late'`, queueID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count late runs: %w", interpretError(err))
	}
	return n, nil
}
