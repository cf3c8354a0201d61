package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

type deploymentField struct {
	key, col string
	val      any
}

// deploymentFields maps the JSON fields of a deployment body to their
// columns and encoded values; the upsert writes those given.
func deploymentFields(p *storage.DeploymentUpsertParams, j *storage.DeploymentJSON) []deploymentField {
	return []deploymentField{
		{"version", "version", p.Version},
		{"version_info", "version_info", j.VersionInfo},
		{"description", "description", p.Description},
		{"paused", "paused", p.Paused},
		{"job_variables", "job_variables", j.JobVariables},
		{"parameters", "parameters", j.Parameters},
		{"parameter_openapi_schema", "parameter_openapi_schema", j.ParameterOpenAPISchema},
		{"enforce_parameter_schema", "enforce_parameter_schema", p.EnforceParameterSchema},
		{"tags", "tags", j.Tags},
		{"work_queue_name", "work_queue_name", p.WorkQueueName},
		{"path", "path", p.Path},
		{"entrypoint", "entrypoint", p.Entrypoint},
		{"pull_steps", "pull_steps", j.PullSteps},
		{"storage_document_id", "storage_document_id", p.StorageDocumentID},
		{"infrastructure_document_id", "infrastructure_document_id", p.InfrastructureDocumentID},
		{"concurrency_options", "concurrency_options", j.ConcurrencyOptions},
		{"updated_by", "updated_by", j.UpdatedBy},
	}
}

// DeploymentUpsert implements storage.Store. INSERT ... ON CONFLICT DO
// NOTHING waits for a concurrent insert of the same (flow, name); the loser
// then updates the winner's row, locked.
func (s *Store) DeploymentUpsert(ctx context.Context, p *storage.DeploymentUpsertParams) (*apitype.Deployment, bool, error) {
	j, err := storage.EncodeDeploymentJSON(p)
	if err != nil {
		return nil, false, err
	}
	var (
		out     *apitype.Deployment
		created bool
	)
	err = s.write(ctx, func(tx pgx.Tx) error {
		queueID, err := resolveWorkQueue(ctx, tx, p.WorkPoolName, p.WorkQueueName, p.Now)
		if err != nil {
			return err
		}
		now := storage.DBTime(p.Now)
		ins := &setList{}
		for _, f := range deploymentFields(p, &j) {
			ins.add(f.col, f.val, "")
		}
		for _, f := range []deploymentField{{"", "id", p.ID}, {"", "created", now}, {"", "updated", now},
			{"", "flow_id", p.FlowID}, {"", "name", p.Name}, {"", "labels", j.Labels}, {"", "created_by", j.CreatedBy},
			{"", "work_queue_id", queueID}, {"", "concurrency_limit_id", p.GlobalConcurrencyLimitID}} {
			ins.add(f.col, f.val, "")
		}
		cols, marks := make([]string, len(ins.sets)), make([]string, len(ins.sets))
		for i, set := range ins.sets {
			cols[i], marks[i], _ = strings.Cut(set, " = ")
		}
		var id uuid.UUID
		err = tx.QueryRow(ctx, `INSERT INTO deployment (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(marks, ", ")+
			`) ON CONFLICT (flow_id, name) DO NOTHING RETURNING id`, ins.args...).Scan(&id)
		switch {
		case err == nil:
			created = true
		case errors.Is(err, pgx.ErrNoRows):
			if err := tx.QueryRow(ctx, `SELECT id FROM deployment WHERE flow_id = $1 AND name = $2 FOR UPDATE`,
				p.FlowID, p.Name).Scan(&id); err != nil {
				return fmt.Errorf("find deployment: %w", interpretError(err))
			}
			c := &setList{}
			c.add("updated", now, "")
			c.add("labels", j.Labels, "")
			for _, f := range deploymentFields(p, &j) {
				if p.Given == nil || p.Given[f.key] {
					c.add(f.col, f.val, "")
				}
			}
			if queueID != nil {
				c.add("work_queue_id", queueID, "")
			}
			if p.GlobalConcurrencyLimitIDSet {
				c.add("concurrency_limit_id", p.GlobalConcurrencyLimitID, "")
			}
			c.args = append(c.args, id)
			if err := execOne(ctx, tx, "update deployment", `UPDATE deployment SET `+strings.Join(c.sets, ", ")+
				fmt.Sprintf(` WHERE id = $%d`, len(c.args)), c.args...); err != nil {
				return err
			}
		default:
			return fmt.Errorf("insert deployment: %w", interpretError(err))
		}
		if _, err := deleteScheduledRuns(ctx, tx, id, nil, p.Now, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM deployment_schedule WHERE deployment_id = $1`, id); err != nil {
			return fmt.Errorf("delete schedules: %w", err)
		}
		if err := insertSchedules(ctx, tx, id, p.Schedules, p.Now); err != nil {
			return err
		}
		if p.ConcurrencyLimitSet {
			if err := setDeploymentLimit(ctx, tx, id, p.ConcurrencyLimit, p.Now); err != nil {
				return err
			}
		}
		out, err = getDeployment(ctx, tx, `id = $1`, id)
		return err
	})
	if isForeignKeyError(err) {
		return nil, false, fmt.Errorf("upsert deployment: %w: %w", storage.ErrConflict, err)
	}
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

func isForeignKeyError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// setDeploymentLimit is Prefect's _create_or_update_deployment_concurrency_limit:
// nil deletes the deployment's limit, a value updates it or creates one
// named deployment:{id}.
func setDeploymentLimit(ctx context.Context, tx pgx.Tx, id uuid.UUID, limit *int64, now time.Time) error {
	var limitID *uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT concurrency_limit_id FROM deployment WHERE id = $1`, id).Scan(&limitID); err != nil {
		return fmt.Errorf("read deployment limit: %w", interpretError(err))
	}
	ts := storage.DBTime(now)
	switch {
	case limit == nil:
		if limitID != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM concurrency_limit_v2 WHERE id = $1`, *limitID); err != nil {
				return fmt.Errorf("delete deployment limit: %w", err)
			}
		}
		return nil
	case limitID != nil:
		if _, err := tx.Exec(ctx, `UPDATE concurrency_limit_v2 SET "limit" = $1, updated = $2 WHERE id = $3 AND "limit" != $1`,
			*limit, ts, *limitID); err != nil {
			return fmt.Errorf("update deployment limit: %w", err)
		}
		return nil
	}
	var newID uuid.UUID
	if err := tx.QueryRow(ctx, `INSERT INTO concurrency_limit_v2 (id, created, updated, name, "limit")
		VALUES ($1, $2, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "limit" = excluded."limit", updated = excluded.updated
		RETURNING id`, uuid.New(), ts, storage.DeploymentLimitName(id), *limit).Scan(&newID); err != nil {
		return fmt.Errorf("create deployment limit: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE deployment SET concurrency_limit_id = $1 WHERE id = $2`, newID, id); err != nil {
		return fmt.Errorf("link deployment limit: %w", err)
	}
	return nil
}

// DeploymentUpdate implements storage.Store.
func (s *Store) DeploymentUpdate(ctx context.Context, id uuid.UUID, u *storage.DeploymentUpdateParams) error {
	c := &setList{}
	c.add("updated", storage.DBTime(u.Now), "")
	for _, f := range []struct {
		col string
		v   *string
	}{{"version", u.Version}, {"description", u.Description}, {"path", u.Path}, {"entrypoint", u.Entrypoint},
		{"work_queue_name", u.WorkQueueName}} {
		if f.v != nil {
			c.add(f.col, *f.v, "")
		}
	}
	if u.Paused != nil {
		c.add("paused", *u.Paused, "")
	}
	if u.EnforceParameterSchema != nil {
		c.add("enforce_parameter_schema", *u.EnforceParameterSchema, "")
	}
	if u.Parameters != nil {
		c.add("parameters", string(u.Parameters), "")
	}
	if u.JobVariables != nil {
		c.add("job_variables", string(u.JobVariables), "")
	}
	if u.ParameterOpenAPISchema != nil {
		c.add("parameter_openapi_schema", storage.OptRaw(u.ParameterOpenAPISchema), "")
	}
	if u.PullSteps != nil {
		c.add("pull_steps", storage.OptRaw(u.PullSteps), "")
	}
	if u.Tags != nil {
		c.add("tags", storage.JSONList(u.Tags), "::jsonb")
	}
	if u.StorageDocumentID != nil {
		c.add("storage_document_id", *u.StorageDocumentID, "")
	}
	if u.InfrastructureDocumentID != nil {
		c.add("infrastructure_document_id", *u.InfrastructureDocumentID, "")
	}
	if u.ConcurrencyOptionsSet {
		v, err := storage.OptJSON(u.ConcurrencyOptions, u.ConcurrencyOptions == nil)
		if err != nil {
			return err
		}
		c.add("concurrency_options", v, "")
	}
	if u.UpdatedBy != nil {
		v, err := storage.OptJSON(u.UpdatedBy, false)
		if err != nil {
			return err
		}
		c.add("updated_by", v, "")
	}
	if u.GlobalConcurrencyLimitIDSet {
		c.add("concurrency_limit_id", u.GlobalConcurrencyLimitID, "")
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if pool, queue, set := storage.UpdateQueueTarget(u); set {
			queueID, err := resolveWorkQueue(ctx, tx, pool, queue, u.Now)
			if err != nil {
				return err
			}
			c.add("work_queue_id", queueID, "")
		}
		args := append(c.args, id)
		if err := execOne(ctx, tx, "update deployment", `UPDATE deployment SET `+strings.Join(c.sets, ", ")+
			fmt.Sprintf(` WHERE id = $%d`, len(args)), args...); err != nil {
			return err
		}
		if _, err := deleteScheduledRuns(ctx, tx, id, nil, u.Now, true); err != nil {
			return err
		}
		if u.Schedules != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM deployment_schedule WHERE deployment_id = $1`, id); err != nil {
				return fmt.Errorf("delete schedules: %w", err)
			}
			if err := insertSchedules(ctx, tx, id, u.Schedules, u.Now); err != nil {
				return err
			}
		}
		if err := patchSchedules(ctx, tx, id, u.SchedulePatches, u.Now); err != nil {
			return err
		}
		if err := insertSchedules(ctx, tx, id, u.SchedulesAdd, u.Now); err != nil {
			return err
		}
		if u.ConcurrencyLimitSet {
			return setDeploymentLimit(ctx, tx, id, u.ConcurrencyLimit, u.Now)
		}
		return nil
	})
}

// deleteDeployments is Prefect's delete_deployment for each id: its
// scheduled runs that never ran, its v2 limit, then the row (schedules
// cascade).
func deleteDeployments(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	for _, id := range ids {
		if _, err := deleteScheduledRuns(ctx, tx, id, nil, time.Time{}, false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM concurrency_limit_v2 WHERE id = (SELECT concurrency_limit_id FROM deployment WHERE id = $1)`, id); err != nil {
			return fmt.Errorf("delete deployment limit: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM deployment WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete deployment: %w", err)
		}
	}
	return nil
}

// DeploymentDelete implements storage.Store.
func (s *Store) DeploymentDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		var got uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM deployment WHERE id = $1 FOR UPDATE`, id).Scan(&got); err != nil {
			return fmt.Errorf("delete deployment: %w", interpretError(err))
		}
		return deleteDeployments(ctx, tx, []uuid.UUID{id})
	})
}

// DeploymentDeleteMany implements storage.Store.
func (s *Store) DeploymentDeleteMany(ctx context.Context, q *storage.DeploymentQuery, limit int) ([]uuid.UUID, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.DeploymentQuery(q)
	if err != nil {
		return nil, err
	}
	query := `SELECT id FROM deployment WHERE ` + cond + ` ORDER BY name, id` + pageClause(w, limit, 0) + ` FOR UPDATE`
	out := []uuid.UUID{}
	err = s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, w.Args...)
		if err != nil {
			return fmt.Errorf("select deployments: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("select deployments: %w", err)
		}
		out = append(out, ids...)
		return deleteDeployments(ctx, tx, ids)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deleteScheduledRuns is Prefect's _delete_scheduled_runs: runs still
// SCHEDULED (not waiting for a concurrency slot) that never ran; autoOnly
// keeps manual runs, a non-zero now keeps those due by then, scheduleID
// keeps runs of other schedules.
func deleteScheduledRuns(ctx context.Context, tx pgx.Tx, id uuid.UUID, scheduleID *uuid.UUID, now time.Time, autoOnly bool) (int64, error) {
	q := `DELETE FROM flow_run WHERE deployment_id = $1 AND state_type = 'SCHEDULED'
		AND state_name != 'AwaitingConcurrencySlot' AND run_count = 0`
	args := []any{id}
	if autoOnly {
		q += ` AND auto_scheduled`
	}
	if !now.IsZero() {
		args = append(args, storage.DBTime(now))
		q += fmt.Sprintf(` AND next_scheduled_start_time > $%d`, len(args))
	}
	if scheduleID != nil {
		args = append(args, scheduleID.String())
		q += fmt.Sprintf(` AND created_by->>'id' = $%d`, len(args))
	}
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("delete scheduled runs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DeploymentDeleteScheduledRuns implements storage.Store.
func (s *Store) DeploymentDeleteScheduledRuns(ctx context.Context, deploymentID uuid.UUID, scheduleID *uuid.UUID, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = deleteScheduledRuns(ctx, tx, deploymentID, scheduleID, now, true)
		return err
	})
	return n, err
}
