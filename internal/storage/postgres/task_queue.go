package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ScheduledDeferredTaskRuns implements storage.TaskQueueStore. The state
// type index narrows the scan to scheduled runs; deferred is a JSON flag of
// the current state.
func (s *Store) ScheduledDeferredTaskRuns(ctx context.Context, taskKey string, limit int) ([]uuid.UUID, error) {
	if limit <= 0 {
		return []uuid.UUID{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT t.id FROM task_run t JOIN task_run_state s ON s.id = t.state_id
		WHERE t.state_type = 'SCHEDULED' AND t.task_key = $1 AND (s.state_details->>'deferred') = 'true'
		ORDER BY t.state_timestamp, t.id LIMIT $2`, taskKey, limit)
	if err != nil {
		return nil, fmt.Errorf("list deferred task runs: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list deferred task runs: %w", interpretError(err))
	}
	if out == nil {
		out = []uuid.UUID{}
	}
	return out, nil
}
