package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

var pollDialect = storage.PollDialect{Greatest: "MAX", RetryType: "json_extract(fr.empirical_policy, '$.retry_type')"}

// prefixScanner scans leading extra columns before a flow run's.
type prefixScanner struct {
	r   rowScanner
	pre []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.r.Scan(append(p.pre, dest...)...) }

// WorkPoolScheduledRuns implements storage.WorkPollStore.
func (s *Store) WorkPoolScheduledRuns(ctx context.Context, p *storage.WorkPoolRunsParams) ([]apitype.WorkerFlowRun, error) {
	if p.Limit <= 0 {
		return []apitype.WorkerFlowRun{}, nil
	}
	w := storage.NewWhere(dialect{})
	q := w.WorkPoolRunsSQL(p, flowRunColumns, pollDialect)
	scan := func(r rowScanner) (*apitype.WorkerFlowRun, error) {
		var queueID string
		fr, err := scanFlowRun(prefixScanner{r, []any{&queueID}})
		if err != nil {
			return nil, err
		}
		out := &apitype.WorkerFlowRun{WorkPoolID: p.PoolID, FlowRun: *fr}
		if out.WorkQueueID, err = uuid.Parse(queueID); err != nil {
			return nil, fmt.Errorf("decode work queue id: %w", err)
		}
		return out, nil
	}
	return listRuns(ctx, s, flowRunKind, q, w.Args, scan, func(r *apitype.WorkerFlowRun) (*uuid.UUID, **apitype.State) {
		return r.FlowRun.StateID, &r.FlowRun.State
	})
}

// queueMatch is the runs of the queue aliased wq: its id, or no id and its name.
const queueMatch = `(fr.work_queue_id = wq.id OR (fr.work_queue_id IS NULL AND fr.work_queue_name = wq.name))`

// WorkQueueScheduledRuns implements storage.WorkPollStore.
func (s *Store) WorkQueueScheduledRuns(ctx context.Context, queueID uuid.UUID, before *time.Time, limit int) ([]apitype.FlowRun, error) {
	var (
		paused bool
		cl     sql.NullInt64
		used   int64
	)
	w := storage.NewWhere(dialect{})
	err := s.reader.QueryRowContext(ctx, `SELECT wq.is_paused, wq.concurrency_limit,
		(SELECT COUNT(*) FROM flow_run fr WHERE `+queueMatch+` AND `+
		dialect{}.In(w, "fr.state_type", storage.StateTypeStrings(storage.QueueSlotStates))+`)
		FROM work_queue wq WHERE wq.id = `+w.Bind(queueID.String()), w.Args...).Scan(&paused, &cl, &used)
	if err != nil {
		return nil, fmt.Errorf("read work queue: %w", interpretError(err))
	}
	if cl.Valid {
		limit = min(limit, max(0, int(cl.Int64-used)))
	}
	if paused || limit <= 0 {
		return []apitype.FlowRun{}, nil
	}
	w = storage.NewWhere(dialect{})
	q := `SELECT ` + qualified("fr", flowRunColumns) + ` FROM flow_run fr JOIN work_queue wq ON ` + queueMatch +
		` WHERE wq.id = ` + w.Bind(queueID.String()) + ` AND fr.state_type = 'SCHEDULED'`
	if before != nil {
		q += ` AND fr.next_scheduled_start_time <= ` + w.Bind(encodeTime(*before))
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
		q += ` AND next_scheduled_start_time <= ` + w.Bind(encodeTime(*before))
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		w := storage.NewWhere(dialect{})
		if _, err := tx.ExecContext(ctx, `UPDATE work_queue SET last_polled = `+w.Bind(encodeTime(now))+
			` WHERE `+dialect{}.InIDs(w, "id", queueIDs), w.Args...); err != nil {
			return fmt.Errorf("mark work queues polled: %w", interpretError(err))
		}
		w = storage.NewWhere(dialect{})
		var err error
		deployments, err = scanIDs(ctx, tx, `SELECT id FROM deployment WHERE `+dialect{}.InIDs(w, "work_queue_id", queueIDs)+` ORDER BY id`, w.Args...)
		return err
	})
	return deployments, err
}

// qualified prefixes every column of a column list with a table alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func scanIDs(ctx context.Context, q queryer, query string, args ...any) ([]uuid.UUID, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list ids: %w", interpretError(err))
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list ids: %w", err)
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("list ids: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// countByID runs a query selecting (id, count) pairs.
func (s *Store) countByID(ctx context.Context, query string, args ...any) (map[uuid.UUID]int64, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count slots: %w", interpretError(err))
	}
	defer rows.Close()
	out := map[uuid.UUID]int64{}
	for rows.Next() {
		var (
			s string
			n int64
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count slots: %w", err)
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("count slots: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// WorkPoolActiveSlots implements storage.WorkPollStore.
func (s *Store) WorkPoolActiveSlots(ctx context.Context, poolIDs []uuid.UUID) (map[uuid.UUID]int64, error) {
	if len(poolIDs) == 0 {
		return map[uuid.UUID]int64{}, nil
	}
	w := storage.NewWhere(dialect{})
	return s.countByID(ctx, `SELECT wq.work_pool_id, COUNT(*) FROM flow_run fr JOIN work_queue wq ON wq.id = fr.work_queue_id
		WHERE `+dialect{}.InIDs(w, "wq.work_pool_id", poolIDs)+` AND `+dialect{}.In(w, "fr.state_type", storage.StateTypeStrings(storage.PoolSlotStates))+
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
	if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*)`+from, w.Args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count slot holders: %w", interpretError(err))
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT fr.id, fr.name, fr.state_type, fr.state_name, fr.start_time,
		fr.state_timestamp, wq.id`+from+` ORDER BY fr.id`+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list slot holders: %w", interpretError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h                         storage.SlotHolder
			id, queueID               string
			stateType, stateName      sql.NullString
			startTime, stateTimestamp sql.NullString
		)
		if err := rows.Scan(&id, &h.Name, &stateType, &stateName, &startTime, &stateTimestamp, &queueID); err != nil {
			return nil, 0, fmt.Errorf("list slot holders: %w", err)
		}
		if h.ID, err = uuid.Parse(id); err != nil {
			return nil, 0, fmt.Errorf("list slot holders: %w", err)
		}
		q, err := uuid.Parse(queueID)
		if err != nil {
			return nil, 0, fmt.Errorf("list slot holders: %w", err)
		}
		h.WorkQueueID = &q
		if stateType.Valid {
			st := apitype.StateType(stateType.String)
			h.StateType = &st
		}
		h.StateName = optString(stateName)
		if h.StartTime, err = optTime(startTime); err != nil {
			return nil, 0, err
		}
		if h.StateTimestamp, err = optTime(stateTimestamp); err != nil {
			return nil, 0, err
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list slot holders: %w", err)
	}
	return out, total, nil
}

// WorkQueueLateRuns implements storage.WorkPollStore.
func (s *Store) WorkQueueLateRuns(ctx context.Context, queueID uuid.UUID) (int64, error) {
	var n int64
	err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM flow_run WHERE work_queue_id = ? AND state_name = 'Late'`,
		queueID.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count late runs: %w", interpretError(err))
	}
	return n, nil
}
