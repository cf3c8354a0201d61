package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/internal/storage"
)

// TaskRunRecordMany implements storage.TaskRunRecordStore. Concurrent
// recorders (replicas) can race on a new natural key: the loser's insert
// fails on the unique index and its whole batch rolls back, and the caller's
// retry then finds the winner's row, as Prefect's retry does.
func (s *Store) TaskRunRecordMany(ctx context.Context, records []storage.TaskRunRecord, now time.Time) ([]int, error) {
	var missing []int
	err := s.write(ctx, func(tx pgx.Tx) error {
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

func recordTaskRun(ctx context.Context, tx pgx.Tx, r *storage.TaskRunRecord, now time.Time) error {
	runID, err := recordRunID(ctx, tx, r)
	if err != nil {
		return err
	}
	cols, err := storage.TaskRunRecordColumns(r, runID)
	if err != nil {
		return err
	}
	n := storage.DBTime(now)
	args := []any{n, n}
	for _, c := range cols {
		v := c.Value
		if t, ok := v.(*time.Time); ok {
			v = dbTimePtr(t)
		}
		args = append(args, v)
	}
	q := storage.TaskRunUpsertSQL(cols, func(n int, kind storage.RecordColumnKind) string {
		p := "$" + strconv.Itoa(n)
		switch kind {
		case storage.RecordJSON:
			return p + "::json"
		case storage.RecordJSONB:
			return p + "::jsonb"
		}
		return p
	})
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("record task run: %w", interpretError(err))
	}
	st := storage.RecordState(r, runID)
	details, data, err := storage.EncodeStateJSON(st)
	if err != nil {
		return err
	}
	// DO NOTHING without a target: a replayed state (same id) or a twin at
	// the same timestamp of the same run is skipped, not an error.
	_, err = tx.Exec(ctx, `INSERT INTO task_run_state (id, created, updated, task_run_id, type, timestamp, name,
		message, state_details, data) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8::json, $9::json) ON CONFLICT DO NOTHING`,
		st.ID, n, runID, string(st.Type), storage.DBTime(st.Timestamp), st.Name, st.Message, details, data)
	if err != nil {
		return fmt.Errorf("record task run state: %w", interpretError(err))
	}
	return nil
}

// recordRunID is the id the record's run has or gets: the run holding its
// natural key, else its own.
func recordRunID(ctx context.Context, tx pgx.Tx, r *storage.TaskRunRecord) (uuid.UUID, error) {
	var (
		id  uuid.UUID
		err error
	)
	if r.Run.FlowRunID != nil {
		err = tx.QueryRow(ctx, `SELECT id FROM task_run WHERE flow_run_id = $1 AND task_key = $2 AND dynamic_key = $3`,
			*r.Run.FlowRunID, r.Run.TaskKey, r.Run.DynamicKey).Scan(&id)
	} else {
		err = tx.QueryRow(ctx, `SELECT id FROM task_run WHERE flow_run_id IS NULL AND task_key = $1 AND dynamic_key = $2`,
			r.Run.TaskKey, r.Run.DynamicKey).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return r.Run.ID, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("record task run: %w", err)
	}
	return id, nil
}

var _ storage.TaskRunRecordStore = (*Store)(nil)
