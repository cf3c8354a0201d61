package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// deploymentFields maps the JSON fields of a deployment body to their
// columns and encoded values; the upsert writes those given.
func deploymentFields(p *storage.DeploymentUpsertParams, j *storage.DeploymentJSON) []struct {
	key, col string
	val      any
} {
	return []struct {
		key, col string
		val      any
	}{
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
		{"storage_document_id", "storage_document_id", nullUUID(p.StorageDocumentID)},
		{"infrastructure_document_id", "infrastructure_document_id", nullUUID(p.InfrastructureDocumentID)},
		{"concurrency_options", "concurrency_options", j.ConcurrencyOptions},
		{"updated_by", "updated_by", j.UpdatedBy},
	}
}

// DeploymentUpsert implements storage.Store.
func (s *Store) DeploymentUpsert(ctx context.Context, p *storage.DeploymentUpsertParams) (*apitype.Deployment, bool, error) {
	j, err := storage.EncodeDeploymentJSON(p)
	if err != nil {
		return nil, false, err
	}
	var (
		out     *apitype.Deployment
		created bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		queueID, err := resolveWorkQueue(ctx, tx, p.WorkPoolName, p.WorkQueueName, p.Now)
		if err != nil {
			return err
		}
		now := encodeTime(p.Now)
		var id string
		err = tx.QueryRowContext(ctx, `SELECT id FROM deployment WHERE flow_id = ? AND name = ?`, p.FlowID.String(), p.Name).Scan(&id)
		switch err = interpretError(err); {
		case errors.Is(err, storage.ErrNotFound):
			created, id = true, p.ID.String()
			c := &setClause{}
			for _, f := range deploymentFields(p, &j) {
				c.add(f.col, f.val)
			}
			c.add("id", id)
			c.add("created", now)
			c.add("updated", now)
			c.add("flow_id", p.FlowID.String())
			c.add("name", p.Name)
			c.add("labels", j.Labels)
			c.add("created_by", j.CreatedBy)
			c.add("work_queue_id", queueID)
			c.add("concurrency_limit_id", nullUUID(p.GlobalConcurrencyLimitID))
			if err := insertRow(ctx, tx, "deployment", c); err != nil {
				return fmt.Errorf("insert deployment: %w", err)
			}
		case err != nil:
			return fmt.Errorf("find deployment: %w", err)
		default:
			c := &setClause{}
			c.add("updated", now)
			c.add("labels", j.Labels)
			for _, f := range deploymentFields(p, &j) {
				if p.Given == nil || p.Given[f.key] {
					c.add(f.col, f.val)
				}
			}
			if queueID != nil {
				c.add("work_queue_id", queueID)
			}
			if p.GlobalConcurrencyLimitIDSet {
				c.add("concurrency_limit_id", nullUUID(p.GlobalConcurrencyLimitID))
			}
			if err := execOne(ctx, tx, "update deployment", `UPDATE deployment SET `+c.sql()+` WHERE id = ?`,
				append(c.args, id)...); err != nil {
				return err
			}
		}
		if _, err := deleteScheduledRuns(ctx, tx, id, nil, p.Now, true); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deployment_schedule WHERE deployment_id = ?`, id); err != nil {
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
		out, err = getDeployment(ctx, tx, `id = ?`, id)
		return err
	})
	if err != nil {
		if isForeignKeyError(err) {
			return nil, false, fmt.Errorf("upsert deployment: %w: %w", storage.ErrConflict, err)
		}
		return nil, false, err
	}
	return out, created, nil
}

func insertRow(ctx context.Context, tx *sql.Tx, table string, c *setClause) error {
	cols, marks := "", ""
	for i, s := range c.sets {
		if i > 0 {
			cols, marks = cols+", ", marks+", "
		}
		cols += s[:len(s)-len(" = ?")]
		marks += "?"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+cols+`) VALUES (`+marks+`)`, c.args...)
	return interpretError(err)
}

func isForeignKeyError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// setDeploymentLimit is Prefect's _create_or_update_deployment_concurrency_limit:
// nil deletes the deployment's limit, a value updates it or creates one
// named deployment:{id}.
func setDeploymentLimit(ctx context.Context, tx *sql.Tx, id string, limit *int64, now time.Time) error {
	var limitID sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT concurrency_limit_id FROM deployment WHERE id = ?`, id).Scan(&limitID); err != nil {
		return fmt.Errorf("read deployment limit: %w", interpretError(err))
	}
	ts := encodeTime(now)
	switch {
	case limit == nil:
		if limitID.Valid {
			if _, err := tx.ExecContext(ctx, `DELETE FROM concurrency_limit_v2 WHERE id = ?`, limitID.String); err != nil {
				return fmt.Errorf("delete deployment limit: %w", err)
			}
		}
		return nil
	case limitID.Valid:
		_, err := tx.ExecContext(ctx, `UPDATE concurrency_limit_v2 SET "limit" = ?, updated = ? WHERE id = ? AND "limit" != ?`,
			*limit, ts, limitID.String, *limit)
		if err != nil {
			return fmt.Errorf("update deployment limit: %w", err)
		}
		return nil
	}
	name := "deployment:" + id
	if _, err := tx.ExecContext(ctx, `INSERT INTO concurrency_limit_v2 (id, created, updated, name, "limit")
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "limit" = excluded."limit", updated = excluded.updated`,
		uuid.NewString(), ts, ts, name, *limit); err != nil {
		return fmt.Errorf("create deployment limit: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE deployment SET concurrency_limit_id = (SELECT id FROM concurrency_limit_v2 WHERE name = ?)
		WHERE id = ?`, name, id)
	if err != nil {
		return fmt.Errorf("link deployment limit: %w", err)
	}
	return nil
}

// DeploymentUpdate implements storage.Store.
func (s *Store) DeploymentUpdate(ctx context.Context, id uuid.UUID, u *storage.DeploymentUpdateParams) error {
	c := &setClause{}
	c.add("updated", encodeTime(u.Now))
	str := func(col string, v *string) {
		if v != nil {
			c.add(col, *v)
		}
	}
	raw := func(col string, v []byte) {
		if v != nil {
			c.add(col, storage.OptRaw(v))
		}
	}
	str("version", u.Version)
	str("description", u.Description)
	str("path", u.Path)
	str("entrypoint", u.Entrypoint)
	str("work_queue_name", u.WorkQueueName)
	if u.Paused != nil {
		c.add("paused", *u.Paused)
	}
	if u.EnforceParameterSchema != nil {
		c.add("enforce_parameter_schema", *u.EnforceParameterSchema)
	}
	if u.Parameters != nil {
		c.add("parameters", string(u.Parameters))
	}
	if u.JobVariables != nil {
		c.add("job_variables", string(u.JobVariables))
	}
	raw("parameter_openapi_schema", u.ParameterOpenAPISchema)
	raw("pull_steps", u.PullSteps)
	if u.Tags != nil {
		c.add("tags", encodeTags(u.Tags))
	}
	if u.StorageDocumentID != nil {
		c.add("storage_document_id", u.StorageDocumentID.String())
	}
	if u.InfrastructureDocumentID != nil {
		c.add("infrastructure_document_id", u.InfrastructureDocumentID.String())
	}
	if u.ConcurrencyOptionsSet {
		v, err := storage.OptJSON(u.ConcurrencyOptions, u.ConcurrencyOptions == nil)
		if err != nil {
			return err
		}
		c.add("concurrency_options", v)
	}
	if u.UpdatedBy != nil {
		v, err := storage.OptJSON(u.UpdatedBy, false)
		if err != nil {
			return err
		}
		c.add("updated_by", v)
	}
	if u.GlobalConcurrencyLimitIDSet {
		c.add("concurrency_limit_id", nullUUID(u.GlobalConcurrencyLimitID))
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if pool, queue, set := storage.UpdateQueueTarget(u); set {
			queueID, err := resolveWorkQueue(ctx, tx, pool, queue, u.Now)
			if err != nil {
				return err
			}
			c.add("work_queue_id", queueID)
		}
		if err := execOne(ctx, tx, "update deployment", `UPDATE deployment SET `+c.sql()+` WHERE id = ?`,
			append(c.args, id.String())...); err != nil {
			return err
		}
		if _, err := deleteScheduledRuns(ctx, tx, id.String(), nil, u.Now, true); err != nil {
			return err
		}
		if u.Schedules != nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM deployment_schedule WHERE deployment_id = ?`, id.String()); err != nil {
				return fmt.Errorf("delete schedules: %w", err)
			}
			if err := insertSchedules(ctx, tx, id.String(), u.Schedules, u.Now); err != nil {
				return err
			}
		}
		if err := patchSchedules(ctx, tx, id.String(), u.SchedulePatches, u.Now); err != nil {
			return err
		}
		if err := insertSchedules(ctx, tx, id.String(), u.SchedulesAdd, u.Now); err != nil {
			return err
		}
		if u.ConcurrencyLimitSet {
			return setDeploymentLimit(ctx, tx, id.String(), u.ConcurrencyLimit, u.Now)
		}
		return nil
	})
}

// deleteDeployments is Prefect's delete_deployment for each id: its
// scheduled runs that never ran, its v2 limit, then the row (schedules
// cascade).
func deleteDeployments(ctx context.Context, tx *sql.Tx, ids []string) error {
	for _, id := range ids {
		if _, err := deleteScheduledRuns(ctx, tx, id, nil, time.Time{}, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM concurrency_limit_v2 WHERE id = (SELECT concurrency_limit_id FROM deployment WHERE id = ?)`, id); err != nil {
			return fmt.Errorf("delete deployment limit: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deployment WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete deployment: %w", err)
		}
	}
	return nil
}

// DeploymentDelete implements storage.Store.
func (s *Store) DeploymentDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM deployment WHERE id = ?`, id.String()).Scan(&one); err != nil {
			return fmt.Errorf("delete deployment: %w", interpretError(err))
		}
		return deleteDeployments(ctx, tx, []string{id.String()})
	})
}

// DeploymentDeleteMany implements storage.Store.
func (s *Store) DeploymentDeleteMany(ctx context.Context, q *storage.DeploymentQuery, limit int) ([]uuid.UUID, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.DeploymentQuery(q)
	if err != nil {
		return nil, err
	}
	query := `SELECT id FROM deployment WHERE ` + cond + ` ORDER BY name, id` + pageClause(w, limit, 0)
	out := []uuid.UUID{}
	err = s.write(ctx, func(tx *sql.Tx) error {
		ids, err := scanDeploymentIDs(ctx, tx, query, w.Args...)
		if err != nil {
			return fmt.Errorf("select deployments: %w", err)
		}
		if err := deleteDeployments(ctx, tx, ids); err != nil {
			return err
		}
		for _, id := range ids {
			u, err := uuid.Parse(id)
			if err != nil {
				return fmt.Errorf("decode deployment id: %w", err)
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func scanDeploymentIDs(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// deleteScheduledRuns is Prefect's _delete_scheduled_runs: runs still
// SCHEDULED (not waiting for a concurrency slot) that never ran; autoOnly
// keeps manual runs, a non-zero now keeps those due by then, scheduleID
// keeps runs of other schedules.
func deleteScheduledRuns(ctx context.Context, tx *sql.Tx, id string, scheduleID *uuid.UUID, now time.Time, autoOnly bool) (int64, error) {
	q := `DELETE FROM flow_run WHERE deployment_id = ? AND state_type = 'SCHEDULED'
		AND state_name != 'AwaitingConcurrencySlot' AND run_count = 0`
	args := []any{id}
	if autoOnly {
		q += ` AND auto_scheduled = 1`
	}
	if !now.IsZero() {
		q += ` AND next_scheduled_start_time > ?`
		args = append(args, encodeTime(now))
	}
	if scheduleID != nil {
		q += ` AND json_extract(created_by, '$.id') = ?`
		args = append(args, scheduleID.String())
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("delete scheduled runs: %w", err)
	}
	return res.RowsAffected()
}

// DeploymentDeleteScheduledRuns implements storage.Store.
func (s *Store) DeploymentDeleteScheduledRuns(ctx context.Context, deploymentID uuid.UUID, scheduleID *uuid.UUID, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = deleteScheduledRuns(ctx, tx, deploymentID.String(), scheduleID, now, true)
		return err
	})
	return n, err
}
