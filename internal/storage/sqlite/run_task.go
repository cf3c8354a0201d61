package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const taskRunColumns = `id, created, updated, name, flow_run_id, task_key, dynamic_key, cache_key, cache_expiration,
	task_version, flow_run_run_count, empirical_policy, task_inputs, tags, labels, state_id, state_type, state_name,
	state_timestamp, run_count, expected_start_time, next_scheduled_start_time, start_time, end_time, total_run_time`

func scanTaskRun(r rowScanner) (*apitype.TaskRun, error) {
	var (
		tr                                     apitype.TaskRun
		id, created, updated                   string
		flowRunID, cacheKey, cacheExp, version sql.NullString
		stateID, stateType, stateName, stateTS sql.NullString
		expStart, nextStart, start, end        sql.NullString
		labels                                 sql.NullString
		totalUS                                int64
		j                                      storage.RunJSON
	)
	err := r.Scan(&id, &created, &updated, &tr.Name, &flowRunID, &tr.TaskKey, &tr.DynamicKey, &cacheKey, &cacheExp,
		&version, &tr.FlowRunRunCount, &j.EmpiricalPolicy, &j.TaskInputs, &j.Tags, &labels, &stateID, &stateType, &stateName,
		&stateTS, &tr.RunCount, &expStart, &nextStart, &start, &end, &totalUS)
	if err != nil {
		return nil, interpretError(err)
	}
	j.Labels = optString(labels)
	if err := j.DecodeTaskRun(&tr); err != nil {
		return nil, err
	}
	if tr.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode task run id: %w", err)
	}
	if tr.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if tr.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if tr.FlowRunID, err = optUUID(flowRunID); err != nil {
		return nil, err
	}
	if tr.StateID, err = optUUID(stateID); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&tr.CacheExpiration, cacheExp}, {&tr.StateTimestamp, stateTS}, {&tr.ExpectedStartTime, expStart},
		{&tr.NextScheduledStartTime, nextStart}, {&tr.StartTime, start}, {&tr.EndTime, end}} {
		if *t.dst, err = optTime(t.src); err != nil {
			return nil, err
		}
	}
	if stateType.Valid {
		st := apitype.StateType(stateType.String)
		tr.StateType = &st
	}
	tr.StateName = optString(stateName)
	tr.CacheKey = optString(cacheKey)
	tr.TaskVersion = optString(version)
	tr.TotalRunTime = (time.Duration(totalUS) * time.Microsecond).Seconds()
	return &tr, nil
}

func getTaskRun(ctx context.Context, q queryer, where string, args ...any) (*apitype.TaskRun, error) {
	tr, err := scanTaskRun(q.QueryRowContext(ctx, `SELECT `+taskRunColumns+` FROM task_run WHERE `+where, args...))
	if err != nil {
		return nil, fmt.Errorf("get task run: %w", err)
	}
	if tr.StateID != nil {
		st, err := taskRunKind.getState(ctx, q, *tr.StateID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		tr.State = st
	}
	return tr, nil
}

// TaskRunCreate implements storage.RunStore.
func (s *Store) TaskRunCreate(ctx context.Context, p *storage.TaskRunCreateParams, init storage.RunInit) (*apitype.TaskRun, bool, error) {
	r := &p.Run
	j, err := storage.EncodeTaskRunJSON(r)
	if err != nil {
		return nil, false, err
	}
	var (
		run     *apitype.TaskRun
		created bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		if r.FlowRunID != nil {
			if err := mustExist(ctx, tx, "flow_run", *r.FlowRunID); err != nil {
				return err
			}
		}
		now := encodeTime(p.Now)
		// Both natural keys are unique indexes (one partial, for runs
		// without a flow run), so DO NOTHING is the dedupe.
		res, err := tx.ExecContext(ctx, `INSERT INTO task_run (id, created, updated, name, flow_run_id, task_key,
			dynamic_key, cache_key, cache_expiration, task_version, empirical_policy, task_inputs, tags, labels,
			expected_start_time, next_scheduled_start_time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			r.ID.String(), now, now, r.Name, encOptUUID(r.FlowRunID), r.TaskKey, r.DynamicKey, r.CacheKey,
			encOptTime(r.CacheExpiration), r.TaskVersion, j.EmpiricalPolicy, j.TaskInputs, j.Tags, j.Labels,
			encOptTime(r.ExpectedStartTime), encOptTime(r.NextScheduledStartTime))
		if err != nil {
			return fmt.Errorf("insert task run: %w", interpretError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert task run: %w", err)
		}
		created = n == 1
		id := r.ID
		if !created {
			var existing *apitype.TaskRun
			if r.FlowRunID == nil {
				existing, err = getTaskRun(ctx, tx, `flow_run_id IS NULL AND task_key = ? AND dynamic_key = ?`, r.TaskKey, r.DynamicKey)
			} else {
				existing, err = getTaskRun(ctx, tx, `flow_run_id = ? AND task_key = ? AND dynamic_key = ?`,
					r.FlowRunID.String(), r.TaskKey, r.DynamicKey)
			}
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("insert task run: %w: id %s is taken", storage.ErrConflict, r.ID)
			}
			if err != nil {
				return err
			}
			id = existing.ID
		} else if init != nil {
			if err := init(ctx, &runTx{tx: tx}, id); err != nil {
				return err
			}
		}
		run, err = getTaskRun(ctx, tx, `id = ?`, id.String())
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return run, created, nil
}

// TaskRunGet implements storage.RunStore.
func (s *Store) TaskRunGet(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error) {
	return getTaskRun(ctx, s.reader, `id = ?`, id.String())
}

// TaskRunUpdate implements storage.RunStore.
func (s *Store) TaskRunUpdate(ctx context.Context, id uuid.UUID, p *apitype.TaskRunUpdate, now time.Time) error {
	q, args := `UPDATE task_run SET updated = ? WHERE id = ?`, []any{encodeTime(now), id.String()}
	if p.Name != nil {
		q, args = `UPDATE task_run SET updated = ?, name = ? WHERE id = ?`, []any{encodeTime(now), *p.Name, id.String()}
	}
	return s.write(ctx, func(tx *sql.Tx) error { return execOne(ctx, tx, "update task run", q, args...) })
}

// TaskRunDelete implements storage.RunStore.
func (s *Store) TaskRunDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete task run", `DELETE FROM task_run WHERE id = ?`, id.String())
	})
}

// TaskRunList implements storage.RunStore. Limit <= 0 means no limit.
func (s *Store) TaskRunList(ctx context.Context, p *storage.RunListParams) ([]apitype.TaskRun, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.TaskRunQuery(&p.RunQuery)
	if err != nil {
		return nil, err
	}
	order, err := storage.TaskRunOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + taskRunColumns + ` FROM task_run WHERE ` + cond + ` ORDER BY ` + order + pageClause(w, p.Limit, p.Offset)
	return listRuns(ctx, s, taskRunKind, q, w.Args, scanTaskRun, func(r *apitype.TaskRun) (*uuid.UUID, **apitype.State) {
		return r.StateID, &r.State
	})
}

// TaskRunCount implements storage.RunStore.
func (s *Store) TaskRunCount(ctx context.Context, q *storage.RunQuery) (int64, error) {
	return s.countRuns(ctx, taskRunKind, q)
}

// TaskRunHistory implements storage.RunStore.
func (s *Store) TaskRunHistory(ctx context.Context, q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error) {
	return s.runHistory(ctx, taskRunKind, q, start, end)
}

// TaskRunOrchestrate implements storage.RunStore.
func (s *Store) TaskRunOrchestrate(ctx context.Context, id uuid.UUID, fn func(ctx context.Context, tx storage.RunTx) error) error {
	return s.orchestrate(ctx, taskRunKind, id, fn)
}

var _ storage.RunStore = (*Store)(nil)

// runTx is storage.RunTx over the single writer's transaction, which
// already excludes every other writer.
type runTx struct{ tx *sql.Tx }

func (t *runTx) FlowRun(ctx context.Context, id uuid.UUID) (*apitype.FlowRun, error) {
	return getFlowRun(ctx, t.tx, `id = ?`, id.String())
}

func (t *runTx) TaskRun(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error) {
	return getTaskRun(ctx, t.tx, `id = ?`, id.String())
}

func (t *runTx) LockTaskRun(ctx context.Context, id uuid.UUID) error {
	var one int
	if err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM task_run WHERE id = ?`, id.String()).Scan(&one); err != nil {
		return fmt.Errorf("lock task run: %w", interpretError(err))
	}
	return nil
}

func (t *runTx) CachedTaskRunState(ctx context.Context, key string, now time.Time) (*apitype.State, error) {
	var stateID string
	err := t.tx.QueryRowContext(ctx, `SELECT task_run_state_id FROM task_run_state_cache
		WHERE cache_key = ? AND (cache_expiration IS NULL OR cache_expiration > ?)
		ORDER BY created DESC, id DESC LIMIT 1`, key, encodeTime(now)).Scan(&stateID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read task run cache: %w", err)
	}
	id, err := uuid.Parse(stateID)
	if err != nil {
		return nil, fmt.Errorf("read task run cache: %w", err)
	}
	st, err := taskRunKind.getState(ctx, t.tx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil // the cached run was deleted
	}
	return st, err
}

func (t *runTx) FlowRunStateTimestampTaken(ctx context.Context, flowRunID uuid.UUID, ts time.Time) (bool, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM flow_run_state WHERE flow_run_id = ? AND timestamp = ?`,
		flowRunID.String(), encodeTime(ts)).Scan(&n); err != nil {
		return false, fmt.Errorf("read flow run states: %w", err)
	}
	return n > 0, nil
}

func (t *runTx) SetFlowRunState(ctx context.Context, w *storage.RunStateWrite) error {
	return flowRunKind.setState(ctx, t.tx, w)
}

func (t *runTx) SetTaskRunState(ctx context.Context, w *storage.RunStateWrite) error {
	return taskRunKind.setState(ctx, t.tx, w)
}

func (t *runTx) InsertCacheEntry(ctx context.Context, e *storage.CacheEntry) error {
	n := encodeTime(e.Now)
	_, err := t.tx.ExecContext(ctx, `INSERT INTO task_run_state_cache (id, created, updated, cache_key, cache_expiration,
		task_run_state_id) VALUES (?, ?, ?, ?, ?, ?)`, e.ID.String(), n, n, e.CacheKey, encOptTime(e.CacheExpiration), e.StateID.String())
	if err != nil {
		return fmt.Errorf("insert task run cache entry: %w", interpretError(err))
	}
	return nil
}
