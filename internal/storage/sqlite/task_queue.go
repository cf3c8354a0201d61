package sqlite

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// ScheduledDeferredTaskRuns implements storage.TaskQueueStore. The state
// type index narrows the scan to scheduled runs; deferred is a JSON flag of
// the current state (SQLite reads JSON true as 1).
func (s *Store) ScheduledDeferredTaskRuns(ctx context.Context, taskKey string, limit int) ([]uuid.UUID, error) {
	if limit <= 0 {
		return []uuid.UUID{}, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT t.id FROM task_run t JOIN task_run_state s ON s.id = t.state_id
		WHERE t.state_type = 'SCHEDULED' AND t.task_key = ? AND json_extract(s.state_details, '$.deferred') = 1
		ORDER BY t.state_timestamp, t.id LIMIT ?`, taskKey, limit)
	if err != nil {
		return nil, fmt.Errorf("list deferred task runs: %w", interpretError(err))
	}
	defer rows.Close()
	out := []uuid.UUID{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("list deferred task runs: %w", interpretError(err))
		}
		id, err := uuid.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("decode task run id: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deferred task runs: %w", interpretError(err))
	}
	return out, nil
}
