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

// The lifecycle services' reads. Times are stored in one fixed-width layout,
// so text comparison is time order; ids are canonical lower-case UUIDs, so
// text order is byte order, the same as PostgreSQL's uuid order.

// unfinishedIn is the SQL list of the non-terminal state types.
var unfinishedIn = "('" + strings.Join(storage.UnfinishedStateTypes, "', '") + "')"

// FlowRunsLate implements storage.LifecycleStore.
func (s *Store) FlowRunsLate(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error) {
	return s.lifecycleIDs(ctx, "list late flow runs", `SELECT id FROM flow_run
		WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled' AND next_scheduled_start_time <= ?
		ORDER BY next_scheduled_start_time, id LIMIT ?`, encodeTime(before), limit)
}

// FlowRunsPaused implements storage.LifecycleStore.
func (s *Store) FlowRunsPaused(ctx context.Context, after uuid.UUID, limit int) ([]storage.PausedFlowRun, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT fr.id, COALESCE(st.state_details, '') FROM flow_run fr
		LEFT JOIN flow_run_state st ON st.id = fr.state_id
		WHERE fr.state_type = 'PAUSED' AND fr.id > ? ORDER BY fr.id LIMIT ?`, after.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("list paused flow runs: %w", interpretError(err))
	}
	defer rows.Close()
	var out []storage.PausedFlowRun
	for rows.Next() {
		var id, details string
		if err := rows.Scan(&id, &details); err != nil {
			return nil, fmt.Errorf("list paused flow runs: %w", interpretError(err))
		}
		r := storage.PausedFlowRun{}
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode flow run id: %w", err)
		}
		if r.PauseTimeout, err = storage.PauseTimeoutOf(details); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TaskRunsOfCancelled implements storage.LifecycleStore.
func (s *Store) TaskRunsOfCancelled(ctx context.Context, since time.Time, after uuid.UUID, limit int) ([]uuid.UUID, error) {
	return s.lifecycleIDs(ctx, "list task runs of cancelled flow runs", `SELECT tr.id FROM task_run tr
		JOIN flow_run fr ON fr.id = tr.flow_run_id
		WHERE fr.state_type = 'CANCELLED' AND fr.end_time IS NOT NULL AND fr.end_time >= ?
		AND tr.state_type IN `+unfinishedIn+` AND tr.id > ? ORDER BY tr.id LIMIT ?`, encodeTime(since), after.String(), limit)
}

// SubflowRunsOfCancelled implements storage.LifecycleStore.
func (s *Store) SubflowRunsOfCancelled(ctx context.Context, after uuid.UUID, limit int) ([]storage.SubflowRun, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT fr.id, fr.deployment_id IS NOT NULL, fr.state_type FROM flow_run fr
		JOIN task_run tr ON tr.id = fr.parent_task_run_id
		LEFT JOIN flow_run parent ON parent.id = tr.flow_run_id
		WHERE fr.state_type IN `+unfinishedIn+` AND tr.flow_run_id IS NOT NULL
		AND (parent.id IS NULL OR parent.state_type IS NULL OR parent.state_type = 'CANCELLED')
		AND NOT (fr.deployment_id IS NOT NULL AND fr.state_type = 'CANCELLING')
		AND fr.id > ? ORDER BY fr.id LIMIT ?`, after.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("list subflow runs: %w", interpretError(err))
	}
	defer rows.Close()
	var out []storage.SubflowRun
	for rows.Next() {
		var id string
		var r storage.SubflowRun
		if err := rows.Scan(&id, &r.HasDeployment, &r.StateType); err != nil {
			return nil, fmt.Errorf("list subflow runs: %w", interpretError(err))
		}
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode flow run id: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// FlowRunsCancelling implements storage.LifecycleStore.
func (s *Store) FlowRunsCancelling(ctx context.Context, cutoff time.Time, limit int) ([]storage.CancellingFlowRun, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, state_id, state_timestamp FROM flow_run
		WHERE state_type = 'CANCELLING' AND state_id IS NOT NULL AND state_timestamp <= ?
		ORDER BY state_timestamp, id LIMIT ?`, encodeTime(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("list cancelling flow runs: %w", interpretError(err))
	}
	defer rows.Close()
	var out []storage.CancellingFlowRun
	for rows.Next() {
		var id, stateID, ts string
		if err := rows.Scan(&id, &stateID, &ts); err != nil {
			return nil, fmt.Errorf("list cancelling flow runs: %w", interpretError(err))
		}
		var r storage.CancellingFlowRun
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode flow run id: %w", err)
		}
		if r.StateID, err = uuid.Parse(stateID); err != nil {
			return nil, fmt.Errorf("decode state id: %w", err)
		}
		if r.StateTimestamp, err = decodeTime(ts); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// WorkPoolsWentNotReady implements storage.LifecycleStore.
func (s *Store) WorkPoolsWentNotReady(ctx context.Context, since, now time.Time) ([]storage.WorkPoolRef, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT p.id, p.name, p.type FROM work_pool p
		WHERE p.is_paused = 0 AND p.type <> ?
		AND NOT EXISTS (SELECT 1 FROM worker w WHERE w.work_pool_id = p.id AND w.offline_after > ?)
		AND EXISTS (SELECT 1 FROM worker w WHERE w.work_pool_id = p.id AND w.offline_after > ?)
		ORDER BY p.name`, apitype.WorkPoolTypeAgent, encodeTime(now), encodeTime(since))
	if err != nil {
		return nil, fmt.Errorf("list work pools: %w", interpretError(err))
	}
	defer rows.Close()
	var out []storage.WorkPoolRef
	for rows.Next() {
		var id string
		var r storage.WorkPoolRef
		if err := rows.Scan(&id, &r.Name, &r.Type); err != nil {
			return nil, fmt.Errorf("list work pools: %w", interpretError(err))
		}
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode work pool id: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// WorkQueuesWentNotReady implements storage.LifecycleStore.
func (s *Store) WorkQueuesWentNotReady(ctx context.Context, since, now time.Time, pollTimeout time.Duration) ([]storage.WorkQueueRef, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT q.id, q.name, p.id, p.name, p.type FROM work_queue q
		JOIN work_pool p ON p.id = q.work_pool_id
		WHERE q.is_paused = 0 AND q.last_polled > ? AND q.last_polled <= ?
		ORDER BY q.last_polled, q.id`, encodeTime(since.Add(-pollTimeout)), encodeTime(now.Add(-pollTimeout)))
	if err != nil {
		return nil, fmt.Errorf("list work queues: %w", interpretError(err))
	}
	defer rows.Close()
	var out []storage.WorkQueueRef
	for rows.Next() {
		var r storage.WorkQueueRef
		if err := scanQueueRef(rows, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanQueueRef(rows *sql.Rows, r *storage.WorkQueueRef, extra ...any) error {
	var qid, pid string
	if err := rows.Scan(append(extra, &qid, &r.Name, &pid, &r.Pool.Name, &r.Pool.Type)...); err != nil {
		return fmt.Errorf("scan work queue: %w", interpretError(err))
	}
	var err error
	if r.ID, err = uuid.Parse(qid); err != nil {
		return fmt.Errorf("decode work queue id: %w", err)
	}
	if r.Pool.ID, err = uuid.Parse(pid); err != nil {
		return fmt.Errorf("decode work pool id: %w", err)
	}
	return nil
}

// DeploymentRefs implements storage.LifecycleStore.
func (s *Store) DeploymentRefs(ctx context.Context, ids []uuid.UUID) ([]storage.DeploymentRef, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id.String()
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT d.id, d.name, f.id, f.name, q.id, q.name, p.id, p.name, p.type
		FROM deployment d JOIN flow f ON f.id = d.flow_id
		LEFT JOIN work_queue q ON q.id = d.work_queue_id LEFT JOIN work_pool p ON p.id = q.work_pool_id
		WHERE d.id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY d.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("describe deployments: %w", interpretError(err))
	}
	defer rows.Close()
	var out []storage.DeploymentRef
	for rows.Next() {
		var (
			id, flowID             string
			r                      storage.DeploymentRef
			qid, qname, pid, pname sql.NullString
			ptype                  sql.NullString
		)
		if err := rows.Scan(&id, &r.Name, &flowID, &r.FlowName, &qid, &qname, &pid, &pname, &ptype); err != nil {
			return nil, fmt.Errorf("describe deployments: %w", interpretError(err))
		}
		if r.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode deployment id: %w", err)
		}
		if r.FlowID, err = uuid.Parse(flowID); err != nil {
			return nil, fmt.Errorf("decode flow id: %w", err)
		}
		if qid.Valid && pid.Valid {
			q := &storage.WorkQueueRef{Name: qname.String, Pool: storage.WorkPoolRef{Name: pname.String, Type: ptype.String}}
			if q.ID, err = uuid.Parse(qid.String); err != nil {
				return nil, fmt.Errorf("decode work queue id: %w", err)
			}
			if q.Pool.ID, err = uuid.Parse(pid.String); err != nil {
				return nil, fmt.Errorf("decode work pool id: %w", err)
			}
			r.WorkQueue = q
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// lifecycleIDs runs a query selecting one id column.
func (s *Store) lifecycleIDs(ctx context.Context, what, query string, args ...any) ([]uuid.UUID, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, interpretError(err))
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("%s: %w", what, interpretError(err))
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("%s: decode id: %w", what, err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
