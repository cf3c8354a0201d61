package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// scheduledRunsOf is the correlated filter on flow_run (fr) for the future
// auto-scheduled runs of one deployment_schedule (ds). The terms match the
// partial index ix_flow_run__scheduler (migration 0011) so SQLite uses it;
// the unary + strips ds.id's TEXT affinity, which would otherwise be
// applied to the indexed json_extract expression and rule the index out.
const scheduledRunsOf = `fr.deployment_id = ds.deployment_id AND fr.auto_scheduled = 1
	AND fr.state_type = 'SCHEDULED' AND json_extract(fr.created_by, '$.id') = +ds.id
	AND fr.next_scheduled_start_time >= :now`

// SchedulerDeploymentIDs implements storage.SchedulerStore.
func (s *Store) SchedulerDeploymentIDs(ctx context.Context, p *storage.SchedulerSelect) ([]uuid.UUID, error) {
	var q string
	args := []any{sql.Named("after", p.After.String()), sql.Named("lim", p.Limit)}
	if !p.UpdatedSince.IsZero() {
		q = `SELECT d.id FROM deployment d
			WHERE d.paused = 0 AND d.updated >= :since AND d.id > :after
			AND EXISTS (SELECT 1 FROM deployment_schedule ds WHERE ds.deployment_id = d.id AND ds.active = 1)
			ORDER BY d.id LIMIT :lim`
		args = append(args, sql.Named("since", encodeTime(p.UpdatedSince)))
	} else {
		// A schedule capped by max_scheduled_runs needs runs only while it
		// has fewer than its cap, whatever the time horizon says.
		q = `SELECT DISTINCT deployment_id FROM (
				SELECT ds.deployment_id, ds.max_scheduled_runs AS cap,
					(SELECT count(*) FROM flow_run fr WHERE ` + scheduledRunsOf + `) AS n,
					(SELECT max(fr.next_scheduled_start_time) FROM flow_run fr WHERE ` + scheduledRunsOf + `) AS latest
				FROM deployment_schedule ds JOIN deployment d ON d.id = ds.deployment_id
				WHERE ds.active = 1 AND d.paused = 0 AND d.id > :after)
			WHERE n < min(:min_runs, coalesce(cap, :min_runs))
				OR (n < coalesce(cap, :no_cap) AND latest < :horizon)
			ORDER BY deployment_id LIMIT :lim`
		args = append(args, sql.Named("now", encodeTime(p.Now)), sql.Named("min_runs", p.MinRuns),
			sql.Named("no_cap", math.MaxInt32), sql.Named("horizon", encodeTime(p.Now.Add(p.MinScheduledTime))))
	}
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select deployments to schedule: %w", interpretError(err))
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("select deployments to schedule: %w", interpretError(err))
		}
		id, err := uuid.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("decode deployment id: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select deployments to schedule: %w", interpretError(err))
	}
	return ids, nil
}

// SchedulerInsertRuns implements storage.SchedulerStore. The run row carries
// its state columns from the start and the state row follows, all in the
// writer's one transaction, so no reader sees a run without its state.
func (s *Store) SchedulerInsertRuns(ctx context.Context, runs []apitype.FlowRun, now time.Time) ([]uuid.UUID, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	var inserted []uuid.UUID
	err := s.write(ctx, func(tx *sql.Tx) error {
		inserted = inserted[:0]
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO flow_run (id, created, updated, name, flow_id, state_id,
			state_type, state_name, state_timestamp, expected_start_time, next_scheduled_start_time, deployment_id,
			deployment_version, work_queue_id, work_queue_name, flow_version, parameters, idempotency_key, context,
			empirical_policy, tags, labels, created_by, infrastructure_document_id, job_variables, auto_scheduled)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert scheduled runs: %w", interpretError(err))
		}
		defer stmt.Close()
		n := encodeTime(now)
		for i := range runs {
			r := &runs[i]
			if r.State == nil || r.StateType == nil {
				return fmt.Errorf("insert scheduled run %s: no state", r.ID)
			}
			j, err := storage.EncodeFlowRunJSON(r)
			if err != nil {
				return err
			}
			res, err := stmt.ExecContext(ctx, r.ID.String(), n, n, r.Name, r.FlowID.String(), r.State.ID.String(),
				string(*r.StateType), r.StateName, encOptTime(r.StateTimestamp), encOptTime(r.ExpectedStartTime),
				encOptTime(r.NextScheduledStartTime), encOptUUID(r.DeploymentID), r.DeploymentVersion,
				encOptUUID(r.WorkQueueID), r.WorkQueueName, r.FlowVersion, j.Parameters, r.IdempotencyKey, j.Context,
				j.EmpiricalPolicy, j.Tags, j.Labels, j.CreatedBy, encOptUUID(r.InfrastructureDocumentID),
				j.JobVariables, r.AutoScheduled)
			if err != nil {
				return fmt.Errorf("insert scheduled run: %w", interpretError(err))
			}
			if k, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("insert scheduled run: %w", err)
			} else if k == 0 {
				continue // already scheduled
			}
			if err := flowRunKind.insertState(ctx, tx, r.ID, r.State, now); err != nil {
				return err
			}
			inserted = append(inserted, r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inserted, nil
}
