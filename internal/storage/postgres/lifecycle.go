package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// The lifecycle services' reads.

// FlowRunsLate implements storage.LifecycleStore.
func (s *Store) FlowRunsLate(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error) {
	return s.lifecycleIDs(ctx, "list late flow runs", `SELECT id FROM flow_run
		WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled' AND next_scheduled_start_time <= $1
		ORDER BY next_scheduled_start_time, id LIMIT $2`, storage.DBTime(before), limit)
}

// FlowRunsPaused implements storage.LifecycleStore.
func (s *Store) FlowRunsPaused(ctx context.Context, after uuid.UUID, limit int) ([]storage.PausedFlowRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT fr.id, COALESCE(st.state_details::text, '') FROM flow_run fr
		LEFT JOIN flow_run_state st ON st.id = fr.state_id
		WHERE fr.state_type = 'PAUSED' AND fr.id > $1 ORDER BY fr.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list paused flow runs: %w", interpretError(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.PausedFlowRun, error) {
		var (
			out     storage.PausedFlowRun
			details string
		)
		if err := r.Scan(&out.ID, &details); err != nil {
			return out, fmt.Errorf("list paused flow runs: %w", interpretError(err))
		}
		var err error
		out.PauseTimeout, err = storage.PauseTimeoutOf(details)
		return out, err
	})
}

// TaskRunsOfCancelled implements storage.LifecycleStore.
func (s *Store) TaskRunsOfCancelled(ctx context.Context, since time.Time, after uuid.UUID, limit int) ([]uuid.UUID, error) {
	return s.lifecycleIDs(ctx, "list task runs of cancelled flow runs", `SELECT tr.id FROM task_run tr
		JOIN flow_run fr ON fr.id = tr.flow_run_id
		WHERE fr.state_type = 'CANCELLED' AND fr.end_time IS NOT NULL AND fr.end_time >= $1
		AND tr.state_type = ANY($2::text[]) AND tr.id > $3 ORDER BY tr.id LIMIT $4`,
		storage.DBTime(since), storage.UnfinishedStateTypes, after, limit)
}

// SubflowRunsOfCancelled implements storage.LifecycleStore.
func (s *Store) SubflowRunsOfCancelled(ctx context.Context, after uuid.UUID, limit int) ([]storage.SubflowRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT fr.id, fr.deployment_id IS NOT NULL, fr.state_type FROM flow_run fr
		JOIN task_run tr ON tr.id = fr.parent_task_run_id
		LEFT JOIN flow_run parent ON parent.id = tr.flow_run_id
		WHERE fr.state_type = ANY($1::text[]) AND tr.flow_run_id IS NOT NULL
		AND (parent.id IS NULL OR parent.state_type IS NULL OR parent.state_type = 'CANCELLED')
		AND NOT (fr.deployment_id IS NOT NULL AND fr.state_type = 'CANCELLING')
		AND fr.id > $2 ORDER BY fr.id LIMIT $3`, storage.UnfinishedStateTypes, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list subflow runs: %w", interpretError(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.SubflowRun, error) {
		var out storage.SubflowRun
		if err := r.Scan(&out.ID, &out.HasDeployment, &out.StateType); err != nil {
			return out, fmt.Errorf("list subflow runs: %w", interpretError(err))
		}
		return out, nil
	})
}

// FlowRunsCancelling implements storage.LifecycleStore.
func (s *Store) FlowRunsCancelling(ctx context.Context, cutoff time.Time, limit int) ([]storage.CancellingFlowRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, state_id, state_timestamp FROM flow_run
		WHERE state_type = 'CANCELLING' AND state_id IS NOT NULL AND state_timestamp <= $1
		ORDER BY state_timestamp, id LIMIT $2`, storage.DBTime(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("list cancelling flow runs: %w", interpretError(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.CancellingFlowRun, error) {
		var out storage.CancellingFlowRun
		if err := r.Scan(&out.ID, &out.StateID, &out.StateTimestamp); err != nil {
			return out, fmt.Errorf("list cancelling flow runs: %w", interpretError(err))
		}
		out.StateTimestamp = out.StateTimestamp.UTC()
		return out, nil
	})
}

// WorkPoolsWentNotReady implements storage.LifecycleStore.
func (s *Store) WorkPoolsWentNotReady(ctx context.Context, since, now time.Time) ([]storage.WorkPoolRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.id, p.name, p.type FROM work_pool p
		WHERE NOT p.is_paused AND p.type <> $1
		AND NOT EXISTS (SELECT 1 FROM worker w WHERE w.work_pool_id = p.id AND w.offline_after > $2)
		AND EXISTS (SELECT 1 FROM worker w WHERE w.work_pool_id = p.id AND w.offline_after > $3)
		ORDER BY p.name`, apitype.WorkPoolTypeAgent, storage.DBTime(now), storage.DBTime(since))
	if err != nil {
		return nil, fmt.Errorf("list work pools: %w", interpretError(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.WorkPoolRef, error) {
		var out storage.WorkPoolRef
		if err := r.Scan(&out.ID, &out.Name, &out.Type); err != nil {
			return out, fmt.Errorf("list work pools: %w", interpretError(err))
		}
		return out, nil
	})
}

// WorkQueuesWentNotReady implements storage.LifecycleStore.
func (s *Store) WorkQueuesWentNotReady(ctx context.Context, since, now time.Time, pollTimeout time.Duration) ([]storage.WorkQueueRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT q.id, q.name, p.id, p.name, p.type FROM work_queue q
		JOIN work_pool p ON p.id = q.work_pool_id
		WHERE NOT q.is_paused AND q.last_polled > $1 AND q.last_polled <= $2
		ORDER BY q.last_polled, q.id`, storage.DBTime(since.Add(-pollTimeout)), storage.DBTime(now.Add(-pollTimeout)))
	if err != nil {
		return nil, fmt.Errorf("list work queues: %w", interpretError(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.WorkQueueRef, error) {
		var out storage.WorkQueueRef
		if err := r.Scan(&out.ID, &out.Name, &out.Pool.ID, &out.Pool.Name, &out.Pool.Type); err != nil {
			return out, fmt.Errorf("list work queues: %w", interpretError(err))
		}
		return out, nil
	})
}

// DeploymentRefs implements storage.LifecycleStore.
func (s *Store) DeploymentRefs(ctx context.Context, ids []uuid.UUID) ([]storage.DeploymentRef, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT d.id, d.name, f.id, f.name, q.id, q.name, p.id, p.name, p.type
		FROM deployment d JOIN flow f ON f.id = d.flow_id
		LEFT JOIN work_queue q ON q.id = d.work_queue_id LEFT JOIN work_pool p ON p.id = q.work_pool_id
		WHERE d.id = ANY($1::uuid[]) ORDER BY d.id`, storage.UUIDStrings(ids))
	if err != nil {
		return nil, fmt.Errorf("describe deployments: %w", interpretError(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.DeploymentRef, error) {
		var (
			out                 storage.DeploymentRef
			qid, pid            *uuid.UUID
			qname, pname, ptype *string
		)
		if err := r.Scan(&out.ID, &out.Name, &out.FlowID, &out.FlowName, &qid, &qname, &pid, &pname, &ptype); err != nil {
			return out, fmt.Errorf("describe deployments: %w", interpretError(err))
		}
		if qid != nil && pid != nil {
			out.WorkQueue = &storage.WorkQueueRef{ID: *qid, Name: lcString(qname),
				Pool: storage.WorkPoolRef{ID: *pid, Name: lcString(pname), Type: lcString(ptype)}}
		}
		return out, nil
	})
}

func lcString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// lifecycleIDs runs a query selecting one id column.
func (s *Store) lifecycleIDs(ctx context.Context, what, query string, args ...any) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, interpretError(err))
	}
	return out, nil
}
