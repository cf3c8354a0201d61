package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// scheduledRunsOf is the correlated filter on flow_run (fr) for the future
// auto-scheduled runs of one deployment_schedule (ds); its terms match the
// partial index ix_flow_run__scheduler (migration 0011). $1 is now.
const scheduledRunsOf = `fr.deployment_id = ds.deployment_id AND fr.auto_scheduled = true
	AND fr.state_type = 'SCHEDULED' AND (fr.created_by ->> 'id') = ds.id::text
	AND fr.next_scheduled_start_time >= $1`

// SchedulerDeploymentIDs implements storage.SchedulerStore.
func (s *Store) SchedulerDeploymentIDs(ctx context.Context, p *storage.SchedulerSelect) ([]uuid.UUID, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if !p.UpdatedSince.IsZero() {
		rows, err = s.pool.Query(ctx, `SELECT d.id FROM deployment d
			WHERE NOT d.paused AND d.updated >= $1 AND d.id > $2
			AND EXISTS (SELECT 1 FROM deployment_schedule ds WHERE ds.deployment_id = d.id AND ds.active)
			ORDER BY d.id LIMIT $3`, storage.DBTime(p.UpdatedSince), p.After, p.Limit)
	} else {
		// A schedule capped by max_scheduled_runs needs runs only while it
		// has fewer than its cap, whatever the time horizon says.
		rows, err = s.pool.Query(ctx, `SELECT DISTINCT deployment_id FROM (
				SELECT ds.deployment_id, ds.max_scheduled_runs AS cap,
					(SELECT count(*) FROM flow_run fr WHERE `+scheduledRunsOf+`) AS n,
					(SELECT max(fr.next_scheduled_start_time) FROM flow_run fr WHERE `+scheduledRunsOf+`) AS latest
				FROM deployment_schedule ds JOIN deployment d ON d.id = ds.deployment_id
				WHERE ds.active AND NOT d.paused AND d.id > $2) s
			WHERE n < LEAST($3::bigint, COALESCE(cap, $3::bigint))
				OR (n < COALESCE(cap, $4::bigint) AND latest < $5)
			ORDER BY deployment_id LIMIT $6`, storage.DBTime(p.Now), p.After, p.MinRuns, math.MaxInt32,
			storage.DBTime(p.Now.Add(p.MinScheduledTime)), p.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("select deployments to schedule: %w", interpretError(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("select deployments to schedule: %w", interpretError(err))
	}
	return ids, nil
}

// SchedulerInsertRuns implements storage.SchedulerStore. The run row carries
// its state columns from the start and the state row follows in the same
// transaction, so no reader sees a run without its state.
func (s *Store) SchedulerInsertRuns(ctx context.Context, runs []apitype.FlowRun, now time.Time) ([]uuid.UUID, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	var inserted []uuid.UUID
	n := storage.DBTime(now)
	err := s.write(ctx, func(tx pgx.Tx) error {
		inserted = inserted[:0]
		for i := range runs {
			r := &runs[i]
			if r.State == nil || r.StateType == nil {
				return fmt.Errorf("insert scheduled run %s: no state", r.ID)
			}
			j, err := storage.EncodeFlowRunJSON(r)
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO flow_run (id, created, updated, name, flow_id, state_id, state_type,
				state_name, state_timestamp, expected_start_time, next_scheduled_start_time, deployment_id,
				deployment_version, work_queue_id, work_queue_name, flow_version, parameters, idempotency_key, context,
				empirical_policy, tags, labels, created_by, infrastructure_document_id, job_variables, auto_scheduled)
				VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::json, $17, $18::json,
				$19::json, $20::jsonb, $21::jsonb, $22::jsonb, $23, $24::json, $25) ON CONFLICT DO NOTHING`,
				r.ID, n, r.Name, r.FlowID, r.State.ID, string(*r.StateType), r.StateName, dbTimePtr(r.StateTimestamp),
				dbTimePtr(r.ExpectedStartTime), dbTimePtr(r.NextScheduledStartTime), r.DeploymentID,
				r.DeploymentVersion, r.WorkQueueID, r.WorkQueueName, r.FlowVersion, j.Parameters, r.IdempotencyKey,
				j.Context, j.EmpiricalPolicy, j.Tags, j.Labels, j.CreatedBy, r.InfrastructureDocumentID,
				j.JobVariables, r.AutoScheduled)
			if err != nil {
				return fmt.Errorf("insert scheduled run: %w", interpretError(err))
			}
			if tag.RowsAffected() == 0 {
				continue // already scheduled
			}
			details, data, err := storage.EncodeStateJSON(r.State)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO flow_run_state (id, created, updated, flow_run_id, type, timestamp, name,
				message, state_details, data) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8::json, $9::json)`,
				r.State.ID, n, r.ID, string(r.State.Type), storage.DBTime(r.State.Timestamp), r.State.Name,
				r.State.Message, details, data)
			if err != nil {
				return fmt.Errorf("insert scheduled run state: %w", interpretError(err))
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
