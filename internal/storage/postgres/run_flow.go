package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const flowRunColumns = `id, created, updated, name, flow_id, state_id, state_type, state_name, state_timestamp,
	run_count, expected_start_time, next_scheduled_start_time, start_time, end_time, total_run_time,
	deployment_id, deployment_version, work_queue_id, work_queue_name, flow_version, parameters::text,
	idempotency_key, context::text, empirical_policy::text, tags::text, labels::text, created_by::text,
	infrastructure_pid, infrastructure_document_id, job_variables::text, parent_task_run_id, auto_scheduled`

func scanFlowRun(r pgx.Row) (*apitype.FlowRun, error) {
	var (
		fr        apitype.FlowRun
		stateType *string
		totalUS   int64
		j         storage.RunJSON
	)
	err := r.Scan(&fr.ID, &fr.Created, &fr.Updated, &fr.Name, &fr.FlowID, &fr.StateID, &stateType, &fr.StateName,
		&fr.StateTimestamp, &fr.RunCount, &fr.ExpectedStartTime, &fr.NextScheduledStartTime, &fr.StartTime, &fr.EndTime,
		&totalUS, &fr.DeploymentID, &fr.DeploymentVersion, &fr.WorkQueueID, &fr.WorkQueueName, &fr.FlowVersion,
		&j.Parameters, &fr.IdempotencyKey, &j.Context, &j.EmpiricalPolicy, &j.Tags, &j.Labels, &j.CreatedBy,
		&fr.InfrastructurePID, &fr.InfrastructureDocumentID, &j.JobVariables, &fr.ParentTaskRunID, &fr.AutoScheduled)
	if err != nil {
		return nil, interpretError(err)
	}
	if err := j.DecodeFlowRun(&fr); err != nil {
		return nil, err
	}
	fr.Created, fr.Updated = fr.Created.UTC(), fr.Updated.UTC()
	fr.StateTimestamp, fr.ExpectedStartTime = utcPtr(fr.StateTimestamp), utcPtr(fr.ExpectedStartTime)
	fr.NextScheduledStartTime, fr.StartTime, fr.EndTime = utcPtr(fr.NextScheduledStartTime), utcPtr(fr.StartTime), utcPtr(fr.EndTime)
	if stateType != nil {
		st := apitype.StateType(*stateType)
		fr.StateType = &st
	}
	fr.TotalRunTime = (time.Duration(totalUS) * time.Microsecond).Seconds()
	return &fr, nil
}

func getFlowRun(ctx context.Context, q queryer, where string, args ...any) (*apitype.FlowRun, error) {
	fr, err := scanFlowRun(q.QueryRow(ctx, `SELECT `+flowRunColumns+` FROM flow_run WHERE `+where, args...))
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

// FlowRunCreate implements storage.RunStore. ON CONFLICT DO NOTHING waits
// for a concurrent insert of the same idempotency key, so the SELECT then
// sees the winner.
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
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := mustExist(ctx, tx, "flow", r.FlowID); err != nil {
			return err
		}
		if r.ParentTaskRunID != nil {
			if err := mustExist(ctx, tx, "task_run", *r.ParentTaskRunID); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO flow_run (id, created, updated, name, flow_id, expected_start_time,
			next_scheduled_start_time, deployment_id, deployment_version, work_queue_id, work_queue_name, flow_version,
			parameters, idempotency_key, context, empirical_policy, tags, labels, created_by, infrastructure_pid,
			infrastructure_document_id, job_variables, parent_task_run_id, auto_scheduled)
			VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::json, $13, $14::json, $15::json, $16::jsonb,
			$17::jsonb, $18::jsonb, $19, $20, $21::json, $22, $23) ON CONFLICT DO NOTHING`,
			r.ID, storage.DBTime(p.Now), r.Name, r.FlowID, dbTimePtr(r.ExpectedStartTime),
			dbTimePtr(r.NextScheduledStartTime), r.DeploymentID, r.DeploymentVersion, r.WorkQueueID, r.WorkQueueName,
			r.FlowVersion, j.Parameters, r.IdempotencyKey, j.Context, j.EmpiricalPolicy, j.Tags, j.Labels, j.CreatedBy,
			r.InfrastructurePID, r.InfrastructureDocumentID, j.JobVariables, r.ParentTaskRunID, r.AutoScheduled)
		if err != nil {
			return fmt.Errorf("insert flow run: %w", interpretError(err))
		}
		created = tag.RowsAffected() == 1
		id := r.ID
		if !created {
			if r.IdempotencyKey == nil {
				return fmt.Errorf("insert flow run: %w: id %s is taken", storage.ErrConflict, id)
			}
			existing, err := getFlowRun(ctx, tx, `flow_id = $1 AND idempotency_key = $2`, r.FlowID, *r.IdempotencyKey)
			if err != nil {
				return err
			}
			id = existing.ID
		} else if init != nil {
			if err := init(ctx, &runTx{tx: tx}, id); err != nil {
				return err
			}
		}
		run, err = getFlowRun(ctx, tx, `id = $1`, id)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return run, created, nil
}

// FlowRunGet implements storage.RunStore.
func (s *Store) FlowRunGet(ctx context.Context, id uuid.UUID) (*apitype.FlowRun, error) {
	return getFlowRun(ctx, s.pool, `id = $1`, id)
}

// FlowRunUpdate implements storage.RunStore.
func (s *Store) FlowRunUpdate(ctx context.Context, id uuid.UUID, p *apitype.FlowRunUpdate, now time.Time) error {
	sets := []string{"updated = $1"}
	args := []any{storage.DBTime(now)}
	set := func(col, cast string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d%s", col, len(args), cast))
	}
	if p.Name != nil {
		set("name", "", *p.Name)
	}
	if p.FlowVersion != nil {
		set("flow_version", "", *p.FlowVersion)
	}
	if p.Parameters != nil {
		set("parameters", "::json", string(p.Parameters))
	}
	if p.EmpiricalPolicy != nil {
		pol, err := storage.MarshalPolicy(p.EmpiricalPolicy)
		if err != nil {
			return err
		}
		set("empirical_policy", "::json", pol)
	}
	if p.Tags != nil {
		set("tags", "::jsonb", storage.JSONList(*p.Tags))
	}
	if p.InfrastructurePID != nil {
		set("infrastructure_pid", "", *p.InfrastructurePID)
	}
	if p.JobVariables != nil {
		set("job_variables", "::json", string(p.JobVariables))
	}
	args = append(args, id)
	return execOne(ctx, s.pool, "update flow run",
		`UPDATE flow_run SET `+strings.Join(sets, ", ")+fmt.Sprintf(` WHERE id = $%d`, len(args)), args...)
}

// FlowRunMergeLabels implements storage.RunStore.
func (s *Store) FlowRunMergeLabels(ctx context.Context, id uuid.UUID, labels map[string]any, now time.Time) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		var cur *string
		if err := tx.QueryRow(ctx, `SELECT labels::text FROM flow_run WHERE id = $1 FOR UPDATE`, id).Scan(&cur); err != nil {
			return fmt.Errorf("read flow run labels: %w", interpretError(err))
		}
		merged := map[string]any{}
		if cur != nil {
			if err := json.Unmarshal([]byte(*cur), &merged); err != nil {
				return fmt.Errorf("decode flow run labels: %w", err)
			}
		}
		maps.Copy(merged, labels)
		enc, err := encodeLabels(merged)
		if err != nil {
			return err
		}
		return execOne(ctx, tx, "update flow run labels", `UPDATE flow_run SET labels = $1::jsonb, updated = $2 WHERE id = $3`,
			enc, storage.DBTime(now), id)
	})
}

// FlowRunDelete implements storage.RunStore.
func (s *Store) FlowRunDelete(ctx context.Context, id uuid.UUID) error {
	return execOne(ctx, s.pool, "delete flow run", `DELETE FROM flow_run WHERE id = $1`, id)
}

// FlowRunDeleteMany implements storage.RunStore. limit <= 0 means no limit.
func (s *Store) FlowRunDeleteMany(ctx context.Context, q *storage.RunQuery, limit int) ([]uuid.UUID, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowRunQuery(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `DELETE FROM flow_run WHERE id IN (SELECT id FROM flow_run WHERE `+cond+
		` ORDER BY id DESC`+pageClause(w, limit, 0)+`) RETURNING id`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("delete flow runs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("delete flow runs: %w", err)
	}
	if ids == nil {
		ids = []uuid.UUID{}
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

// FlowRunOrchestrate implements storage.RunStore.
func (s *Store) FlowRunOrchestrate(ctx context.Context, id uuid.UUID, fn func(ctx context.Context, tx storage.RunTx) error) error {
	return s.orchestrate(ctx, flowRunKind, id, fn)
}
