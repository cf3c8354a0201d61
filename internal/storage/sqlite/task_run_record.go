package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/internal/storage"
)

// TaskRunRecordMany implements storage.TaskRunRecordStore. The single
// writer serialises recorders, so the natural-key lookup cannot race an
// insert.
func (s *Store) TaskRunRecordMany(ctx context.Context, records []storage.TaskRunRecord, now time.Time) ([]int, error) {
	var missing []int
	err := s.write(ctx, func(tx *sql.Tx) error {
		exists := func(id uuid.UUID) (bool, error) {
			err := mustExist(ctx, tx, "flow_run", id)
			if errors.Is(err, storage.ErrConflict) {
				return false, nil
			}
			return err == nil, err
		}
		var err error
		missing, err = storage.ApplyTaskRunRecords(records, exists, func(r *storage.TaskRunRecord) error {
			return recordTaskRun(ctx, tx, r, now)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return missing, nil
}

func recordTaskRun(ctx context.Context, tx *sql.Tx, r *storage.TaskRunRecord, now time.Time) error {
	runID, err := recordRunID(ctx, tx, r)
	if err != nil {
		return err
	}
	cols, err := storage.TaskRunRecordColumns(r, runID)
	if err != nil {
		return err
	}
	n := encodeTime(now)
	args := []any{n, n}
	for _, c := range cols {
		args = append(args, sqliteValue(c.Value))
	}
	q := storage.TaskRunUpsertSQL(cols, func(int, storage.RecordColumnKind) string { return "?" })
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("record task run: %w", interpretError(err))
	}
	st := storage.RecordState(r, runID)
	details, data, err := storage.EncodeStateJSON(st)
	if err != nil {
		return err
	}
	// DO NOTHING without a target: a replayed state (same id) or a twin at
	// the same timestamp of the same run is skipped, not an error.
	_, err = tx.ExecContext(ctx, `INSERT INTO task_run_state (id, created, updated, task_run_id, type, timestamp, name,
		message, state_details, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		st.ID.String(), n, n, runID.String(), string(st.Type), encodeTime(st.Timestamp), st.Name, st.Message, details, data)
	if err != nil {
		return fmt.Errorf("record task run state: %w", interpretError(err))
	}
	return nil
}

// recordRunID is the id the record's run has or gets: the run holding its
// natural key, else its own.
func recordRunID(ctx context.Context, tx *sql.Tx, r *storage.TaskRunRecord) (uuid.UUID, error) {
	var (
		id  string
		err error
	)
	if r.Run.FlowRunID != nil {
		err = tx.QueryRowContext(ctx, `SELECT id FROM task_run WHERE flow_run_id = ? AND task_key = ? AND dynamic_key = ?`,
			r.Run.FlowRunID.String(), r.Run.TaskKey, r.Run.DynamicKey).Scan(&id)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT id FROM task_run WHERE flow_run_id IS NULL AND task_key = ? AND dynamic_key = ?`,
			r.Run.TaskKey, r.Run.DynamicKey).Scan(&id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return r.Run.ID, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("record task run: %w", err)
	}
	return uuid.Parse(id)
}

// sqliteValue binds a storage.RecordColumn value as the schema stores it.
func sqliteValue(v any) any {
	switch v := v.(type) {
	case uuid.UUID:
		return v.String()
	case *uuid.UUID:
		return encOptUUID(v)
	case *time.Time:
		return encOptTime(v)
	}
	return v
}

var _ storage.TaskRunRecordStore = (*Store)(nil)
