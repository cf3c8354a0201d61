package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const taskRunColumns = `id, created, updated, name, flow_run_id, task_key, dynamic_key, cache_key, cache_expiration,
	task_version, flow_run_run_count, empirical_policy::text, task_inputs::text, tags::text, labels::text, state_id,
	state_type, state_name, state_timestamp, run_count, expected_start_time, next_scheduled_start_time, start_time,
	end_time, total_run_time`

func scanTaskRun(r pgx.Row) (*apitype.TaskRun, error) {
	var (
		tr        apitype.TaskRun
		stateType *string
		totalUS   int64
		j         storage.RunJSON
	)
	err := r.Scan(&tr.ID, &tr.Created, &tr.Updated, &tr.Name, &tr.FlowRunID, &tr.TaskKey, &tr.DynamicKey, &tr.CacheKey,
		&tr.CacheExpiration, &tr.TaskVersion, &tr.FlowRunRunCount, &j.EmpiricalPolicy, &j.TaskInputs, &j.Tags, &j.Labels,
		&tr.StateID, &stateType, &tr.StateName, &tr.StateTimestamp, &tr.RunCount, &tr.ExpectedStartTime,
		&tr.NextScheduledStartTime, &tr.StartTime, &tr.EndTime, &totalUS)
	if err != nil {
		return nil, interpretError(err)
	}
	if err := j.DecodeTaskRun(&tr); err != nil {
		return nil, err
	}
	tr.Created, tr.Updated = tr.Created.UTC(), tr.Updated.UTC()
	tr.CacheExpiration, tr.StateTimestamp = utcPtr(tr.CacheExpiration), utcPtr(tr.StateTimestamp)
	tr.ExpectedStartTime, tr.NextScheduledStartTime = utcPtr(tr.ExpectedStartTime), utcPtr(tr.NextScheduledStartTime)
	tr.StartTime, tr.EndTime = utcPtr(tr.StartTime), utcPtr(tr.EndTime)
	if stateType != nil {
		st := apitype.StateType(*stateType)
		tr.StateType = &st
	}
	tr.TotalRunTime = (time.Duration(totalUS) * time.Microsecond).Seconds()
	return &tr, nil
}

func getTaskRun(ctx context.Context, q queryer, where string, args ...any) (*apitype.TaskRun, error) {
	tr, err := scanTaskRun(q.QueryRow(ctx, `SELECT `+taskRunColumns+` FROM task_run WHERE `+where, args...))
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

// TaskRunCreate implements storage.RunStore. Both natural keys are unique
// indexes (one partial, for runs without a flow run), so DO NOTHING is the
// dedupe and waits for a concurrent insert of the same key.
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
	err = s.write(ctx, func(tx pgx.Tx) error {
		if r.FlowRunID != nil {
			if err := mustExist(ctx, tx, "flow_run", *r.FlowRunID); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO task_run (id, created, updated, name, flow_run_id, task_key, dynamic_key,
			cache_key, cache_expiration, task_version, empirical_policy, task_inputs, tags, labels, expected_start_time,
			next_scheduled_start_time) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10::json, $11::json, $12::jsonb,
			$13::jsonb, $14, $15) ON CONFLICT DO NOTHING`,
			r.ID, storage.DBTime(p.Now), r.Name, r.FlowRunID, r.TaskKey, r.DynamicKey, r.CacheKey,
			dbTimePtr(r.CacheExpiration), r.TaskVersion, j.EmpiricalPolicy, j.TaskInputs, j.Tags, j.Labels,
			dbTimePtr(r.ExpectedStartTime), dbTimePtr(r.NextScheduledStartTime))
		if err != nil {
			return fmt.Errorf("insert task run: %w", interpretError(err))
		}
		created = tag.RowsAffected() == 1
		id := r.ID
		if !created {
			var existing *apitype.TaskRun
			if r.FlowRunID == nil {
				existing, err = getTaskRun(ctx, tx, `flow_run_id IS NULL AND task_key = $1 AND dynamic_key = $2`, r.TaskKey, r.DynamicKey)
			} else {
				existing, err = getTaskRun(ctx, tx, `flow_run_id = $1 AND task_key = $2 AND dynamic_key = $3`,
					*r.FlowRunID, r.TaskKey, r.DynamicKey)
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
		run, err = getTaskRun(ctx, tx, `id = $1`, id)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return run, created, nil
}

// TaskRunGet implements storage.RunStore.
func (s *Store) TaskRunGet(ctx context.Context, id uuid.UUID) (*apitype.TaskRun, error) {
	return getTaskRun(ctx, s.pool, `id = $1`, id)
}

// TaskRunUpdate implements storage.RunStore.
func (s *Store) TaskRunUpdate(ctx context.Context, id uuid.UUID, p *apitype.TaskRunUpdate, now time.Time) error {
	return execOne(ctx, s.pool, "update task run", `UPDATE task_run SET updated = $1, name = COALESCE($2, name) WHERE id = $3`,
		storage.DBTime(now), p.Name, id)
}

// TaskRunDelete implements storage.RunStore.
func (s *Store) TaskRunDelete(ctx context.Context, id uuid.UUID) error {
	return execOne(ctx, s.pool, "delete task run", `DELETE FROM task_run WHERE id = $1`, id)
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
