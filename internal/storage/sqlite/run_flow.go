package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const flowRunColumns = `id, created, updated, name, flow_id, state_id, state_type, state_name, state_timestamp,
	run_count, expected_start_time, next_scheduled_start_time, start_time, end_time, total_run_time,
	deployment_id, deployment_version, work_queue_id, work_queue_name, flow_version, parameters,
	idempotency_key, context, empirical_policy, tags, labels, created_by, infrastructure_pid,
	infrastructure_document_id, job_variables, parent_task_run_id, auto_scheduled`

func scanFlowRun(r rowScanner) (*apitype.FlowRun, error) {
	var (
		fr                                     apitype.FlowRun
		id, created, updated, flowID           string
		stateID, stateType, stateName, stateTS sql.NullString
		expStart, nextStart, start, end        sql.NullString
		totalUS                                int64
		deploymentID, workQueueID, infraDocID  sql.NullString
		deploymentVersion, workQueueName       sql.NullString
		flowVersion, idemKey, infraPID         sql.NullString
		parentTaskRunID                        sql.NullString
		j                                      storage.RunJSON
		labels, createdBy, jobVars             sql.NullString
	)
	err := r.Scan(&id, &created, &updated, &fr.Name, &flowID, &stateID, &stateType, &stateName, &stateTS,
		&fr.RunCount, &expStart, &nextStart, &start, &end, &totalUS,
		&deploymentID, &deploymentVersion, &workQueueID, &workQueueName, &flowVersion, &j.Parameters,
		&idemKey, &j.Context, &j.EmpiricalPolicy, &j.Tags, &labels, &createdBy, &infraPID,
		&infraDocID, &jobVars, &parentTaskRunID, &fr.AutoScheduled)
	if err != nil {
		return nil, interpretError(err)
	}
	j.Labels, j.CreatedBy, j.JobVariables = optString(labels), optString(createdBy), optString(jobVars)
	if err := j.DecodeFlowRun(&fr); err != nil {
		return nil, err
	}
	if fr.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode flow run id: %w", err)
	}
	if fr.FlowID, err = uuid.Parse(flowID); err != nil {
		return nil, fmt.Errorf("decode flow id: %w", err)
	}
	if fr.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if fr.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	for _, u := range []struct {
		dst **uuid.UUID
		src sql.NullString
	}{{&fr.StateID, stateID}, {&fr.DeploymentID, deploymentID}, {&fr.WorkQueueID, workQueueID},
		{&fr.InfrastructureDocumentID, infraDocID}, {&fr.ParentTaskRunID, parentTaskRunID}} {
		if *u.dst, err = optUUID(u.src); err != nil {
			return nil, err
		}
	}
	for _, t := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&fr.StateTimestamp, stateTS}, {&fr.ExpectedStartTime, expStart}, {&fr.NextScheduledStartTime, nextStart},
		{&fr.StartTime, start}, {&fr.EndTime, end}} {
		if *t.dst, err = optTime(t.src); err != nil {
			return nil, err
		}
	}
	if stateType.Valid {
		st := apitype.StateType(stateType.String)
		fr.StateType = &st
	}
	fr.StateName = optString(stateName)
	fr.DeploymentVersion = optString(deploymentVersion)
	fr.WorkQueueName = optString(workQueueName)
	fr.FlowVersion = optString(flowVersion)
	fr.IdempotencyKey = optString(idemKey)
	fr.InfrastructurePID = optString(infraPID)
	fr.TotalRunTime = (time.Duration(totalUS) * time.Microsecond).Seconds()
	return &fr, nil
}

// getFlowRun reads one flow run with its current state.
func getFlowRun(ctx context.Context, q queryer, where string, args ...any) (*apitype.FlowRun, error) {
	fr, err := scanFlowRun(q.QueryRowContext(ctx, `SELECT `+flowRunColumns+` FROM flow_run WHERE `+where, args...))
	if err != nil {
		return nil, fmt.Errorf("get flow run: %w", err)
	}
	if fr.StateID != nil {
		st, err := flowRunKind.getState(ctx, q, *fr.StateID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		fr.State = st
	}
	return fr, nil
}

// FlowRunCreate implements storage.RunStore.
func (s *Store) FlowRunCreate(ctx context.Context, p *storage.FlowRunCreateParams, init storage.RunInit) (*apitype.FlowRun, bool, error) {
	r := &p.Run
	j, err := storage.EncodeFlowRunJSON(r)
	if err != nil {
		return nil, false, err
	}
	var (
		run     *apitype.FlowRun
		created bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "flow", r.FlowID); err != nil {
			return err
		}
		if r.ParentTaskRunID != nil {
			if err := mustExist(ctx, tx, "task_run", *r.ParentTaskRunID); err != nil {
				return err
			}
		}
		now := encodeTime(p.Now)
		res, err := tx.ExecContext(ctx, `INSERT INTO flow_run (id, created, updated, name, flow_id, expected_start_time,
			next_scheduled_start_time, deployment_id, deployment_version, work_queue_id, work_queue_name, flow_version,
			parameters, idempotency_key, context, empirical_policy, tags, labels, created_by, infrastructure_pid,
			infrastructure_document_id, job_variables, parent_task_run_id, auto_scheduled)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			r.ID.String(), now, now, r.Name, r.FlowID.String(), encOptTime(r.ExpectedStartTime),
			encOptTime(r.NextScheduledStartTime), encOptUUID(r.DeploymentID), r.DeploymentVersion,
			encOptUUID(r.WorkQueueID), r.WorkQueueName, r.FlowVersion, j.Parameters, r.IdempotencyKey, j.Context,
			j.EmpiricalPolicy, j.Tags, j.Labels, j.CreatedBy, r.InfrastructurePID, encOptUUID(r.InfrastructureDocumentID),
			j.JobVariables, encOptUUID(r.ParentTaskRunID), r.AutoScheduled)
		if err != nil {
			return fmt.Errorf("insert flow run: %w", interpretError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert flow run: %w", err)
		}
		created = n == 1
		id := r.ID
		if !created {
			if r.IdempotencyKey == nil {
				return fmt.Errorf("insert flow run: %w: id %s is taken", storage.ErrConflict, id)
			}
			existing, err := getFlowRun(ctx, tx, `flow_id = ? AND idempotency_key = ?`, r.FlowID.String(), *r.IdempotencyKey)
			if err != nil {
				return err
			}
			id = existing.ID
		} else if init != nil {
			if err := init(ctx, &runTx{tx: tx}, id); err != nil {
				return err
			}
		}
		run, err = getFlowRun(ctx, tx, `id = ?`, id.String())
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return run, created, nil
}

// mustExist reports a missing parent row as a conflict, as Prefect's
// foreign-key IntegrityError is.
func mustExist(ctx context.Context, tx *sql.Tx, table string, id uuid.UUID) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id.String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s %s does not exist", storage.ErrConflict, table, id)
	}
	return err
}

// FlowRunGet implements storage.RunStore.
func (s *Store) FlowRunGet(ctx context.Context, id uuid.UUID) (*apitype.FlowRun, error) {
	return getFlowRun(ctx, s.reader, `id = ?`, id.String())
}

// FlowRunUpdate implements storage.RunStore.
func (s *Store) FlowRunUpdate(ctx context.Context, id uuid.UUID, p *apitype.FlowRunUpdate, now time.Time) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(now)}
	set := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if p.Name != nil {
		set("name", *p.Name)
	}
	if p.FlowVersion != nil {
		set("flow_version", *p.FlowVersion)
	}
	if p.Parameters != nil {
		set("parameters", string(p.Parameters))
	}
	if p.EmpiricalPolicy != nil {
		pol, err := storage.MarshalPolicy(p.EmpiricalPolicy)
		if err != nil {
			return err
		}
		set("empirical_policy", pol)
	}
	if p.Tags != nil {
		set("tags", encodeTags(*p.Tags))
	}
	if p.InfrastructurePID != nil {
		set("infrastructure_pid", *p.InfrastructurePID)
	}
	if p.JobVariables != nil {
		set("job_variables", string(p.JobVariables))
	}
	args = append(args, id.String())
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "update flow run", `UPDATE flow_run SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
	})
}

// FlowRunMergeLabels implements storage.RunStore.
func (s *Store) FlowRunMergeLabels(ctx context.Context, id uuid.UUID, labels map[string]any, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var cur sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT labels FROM flow_run WHERE id = ?`, id.String()).Scan(&cur); err != nil {
			return fmt.Errorf("read flow run labels: %w", interpretError(err))
		}
		merged := map[string]any{}
		if cur.Valid {
			if err := json.Unmarshal([]byte(cur.String), &merged); err != nil {
				return fmt.Errorf("decode flow run labels: %w", err)
			}
		}
		maps.Copy(merged, labels)
		enc, err := encodeLabels(merged)
		if err != nil {
			return err
		}
		return execOne(ctx, tx, "update flow run labels", `UPDATE flow_run SET labels = ?, updated = ? WHERE id = ?`,
			enc, encodeTime(now), id.String())
	})
}

// FlowRunDelete implements storage.RunStore.
func (s *Store) FlowRunDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete flow run", `DELETE FROM flow_run WHERE id = ?`, id.String())
	})
}

// FlowRunDeleteMany implements storage.RunStore. limit <= 0 means no limit.
func (s *Store) FlowRunDeleteMany(ctx context.Context, q *storage.RunQuery, limit int) ([]uuid.UUID, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowRunQuery(q)
	if err != nil {
		return nil, err
	}
	ids := []uuid.UUID{}
	err = s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM flow_run WHERE id IN (SELECT id FROM flow_run WHERE `+cond+
			` ORDER BY id DESC`+pageClause(w, limit, 0)+`) RETURNING id`, w.Args...)
		if err != nil {
			return fmt.Errorf("delete flow runs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("delete flow runs: %w", err)
			}
			u, err := uuid.Parse(id)
			if err != nil {
				return fmt.Errorf("delete flow runs: %w", err)
			}
			ids = append(ids, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// FlowRunList implements storage.RunStore. Limit <= 0 means no limit.
func (s *Store) FlowRunList(ctx context.Context, p *storage.RunListParams) ([]apitype.FlowRun, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowRunQuery(&p.RunQuery)
	if err != nil {
		return nil, err
	}
	order, err := storage.FlowRunOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + flowRunColumns + ` FROM flow_run WHERE ` + cond + ` ORDER BY ` + order + pageClause(w, p.Limit, p.Offset)
	return listRuns(ctx, s, flowRunKind, q, w.Args, scanFlowRun, func(r *apitype.FlowRun) (*uuid.UUID, **apitype.State) {
		return r.StateID, &r.State
	})
}

// FlowRunCount implements storage.RunStore.
func (s *Store) FlowRunCount(ctx context.Context, q *storage.RunQuery) (int64, error) {
	return s.countRuns(ctx, flowRunKind, q)
}

// FlowRunHistory implements storage.RunStore.
func (s *Store) FlowRunHistory(ctx context.Context, q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error) {
	return s.runHistory(ctx, flowRunKind, q, start, end)
}

// FlowRunOrchestrate implements storage.RunStore. BEGIN IMMEDIATE on the one
// writer connection already serialises every writer: that is the lock.
func (s *Store) FlowRunOrchestrate(ctx context.Context, id uuid.UUID, fn func(ctx context.Context, tx storage.RunTx) error) error {
	return s.orchestrate(ctx, flowRunKind, id, fn)
}

func (s *Store) orchestrate(ctx context.Context, k runKind, id uuid.UUID, fn func(ctx context.Context, tx storage.RunTx) error) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+k.table+` WHERE id = ?`, id.String()).Scan(&one); err != nil {
			return fmt.Errorf("lock %s: %w", k.what, interpretError(err))
		}
		return fn(ctx, &runTx{tx: tx})
	})
}

func (s *Store) countRuns(ctx context.Context, k runKind, q *storage.RunQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := k.query(w, q)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM `+k.table+` WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %ss: %w", k.what, err)
	}
	return n, nil
}

func (k runKind) query(w *storage.Where, q *storage.RunQuery) (string, error) {
	if k.table == "flow_run" {
		return w.FlowRunQuery(q)
	}
	return w.TaskRunQuery(q)
}

func (s *Store) runHistory(ctx context.Context, k runKind, q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error) {
	// SQLite binds "?" by position: the window's parameters come first.
	w := storage.NewWhere(dialect{})
	window := `expected_start_time >= ` + w.Bind(encodeTime(start)) + ` AND expected_start_time < ` + w.Bind(encodeTime(end))
	cond, err := k.query(w, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT expected_start_time, state_type, state_name, state_timestamp,
		start_time, total_run_time FROM `+k.table+` WHERE `+window+` AND state_type IS NOT NULL AND `+cond, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("%s history: %w", k.what, err)
	}
	defer rows.Close()
	var out []storage.HistoryRun
	for rows.Next() {
		var (
			h                 storage.HistoryRun
			exp               string
			stateName, ts, st sql.NullString
			totalUS           int64
		)
		if err := rows.Scan(&exp, &h.StateType, &stateName, &ts, &st, &totalUS); err != nil {
			return nil, fmt.Errorf("%s history: %w", k.what, err)
		}
		if h.ExpectedStartTime, err = decodeTime(exp); err != nil {
			return nil, err
		}
		if h.StateTimestamp, err = optTime(ts); err != nil {
			return nil, err
		}
		if h.StartTime, err = optTime(st); err != nil {
			return nil, err
		}
		h.StateName = stateName.String
		h.TotalRunTime = time.Duration(totalUS) * time.Microsecond
		out = append(out, h)
	}
	return out, rows.Err()
}
