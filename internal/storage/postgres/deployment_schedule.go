package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const scheduleColumns = `id, created, updated, deployment_id, schedule, active, max_scheduled_runs, parameters, slug`

// querySchedules lists schedules as Prefect orders them: last updated
// first (ties: last created first).
func querySchedules(ctx context.Context, q queryer, where string, args ...any) ([]apitype.DeploymentSchedule, error) {
	rows, err := q.Query(ctx, `SELECT `+scheduleColumns+` FROM deployment_schedule WHERE `+where+
		` ORDER BY updated DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	out := []apitype.DeploymentSchedule{}
	for rows.Next() {
		var (
			s             apitype.DeploymentSchedule
			sched, params string
		)
		if err := rows.Scan(&s.ID, &s.Created, &s.Updated, &s.DeploymentID, &sched, &s.Active, &s.MaxScheduledRuns,
			&params, &s.Slug); err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		s.Created, s.Updated = s.Created.UTC(), s.Updated.UTC()
		if err := storage.DecodeSchedule(&s, sched, params); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func insertSchedules(ctx context.Context, tx pgx.Tx, deploymentID uuid.UUID, scheds []storage.DeploymentScheduleParams, now time.Time) error {
	ts := storage.DBTime(now)
	for _, sp := range scheds {
		sched, params, err := storage.EncodeSchedule(sp.Schedule, sp.Parameters)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deployment_schedule (`+scheduleColumns+`) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8)`,
			sp.ID, ts, deploymentID, sched, sp.Active, sp.MaxScheduledRuns, params, sp.Slug); err != nil {
			if isForeignKeyError(err) {
				return fmt.Errorf("insert schedule: %w", storage.ErrNotFound)
			}
			return fmt.Errorf("insert schedule: %w", interpretError(err))
		}
	}
	return nil
}

// updateSchedule applies u to one schedule; false when no row matched.
// where's placeholders are $1..$len(args).
func updateSchedule(ctx context.Context, tx pgx.Tx, where string, u *storage.DeploymentScheduleUpdate, now time.Time, args ...any) (bool, error) {
	c := &setList{args: args}
	c.add("updated", storage.DBTime(now), "")
	if u.Schedule != nil {
		sched, _, err := storage.EncodeSchedule(*u.Schedule, nil)
		if err != nil {
			return false, err
		}
		c.add("schedule", sched, "")
	}
	if u.Active != nil {
		c.add("active", *u.Active, "")
	}
	if u.MaxScheduledRuns != nil {
		c.add("max_scheduled_runs", *u.MaxScheduledRuns, "")
	}
	if u.Parameters != nil {
		c.add("parameters", string(u.Parameters), "")
	}
	if u.Slug != nil {
		c.add("slug", *u.Slug, "")
	}
	tag, err := tx.Exec(ctx, `UPDATE deployment_schedule SET `+strings.Join(c.sets, ", ")+` WHERE `+where, c.args...)
	if err != nil {
		return false, fmt.Errorf("update schedule: %w", interpretError(err))
	}
	return tag.RowsAffected() > 0, nil
}

// patchSchedules applies slug-matched updates. Renamed schedules are found
// first and their old slugs cleared, so a rename onto a slug another patch
// frees does not trip the unique index.
func patchSchedules(ctx context.Context, tx pgx.Tx, deploymentID uuid.UUID, patches []storage.DeploymentSchedulePatch, now time.Time) error {
	ids := make([]uuid.UUID, len(patches))
	for i, p := range patches {
		err := tx.QueryRow(ctx, `SELECT id FROM deployment_schedule WHERE deployment_id = $1 AND slug = $2 FOR UPDATE`,
			deploymentID, p.Target).Scan(&ids[i])
		if err != nil {
			return fmt.Errorf("schedule with slug %q: %w", p.Target, interpretError(err))
		}
	}
	for i, p := range patches {
		if p.Update.Slug != nil && *p.Update.Slug != p.Target {
			if _, err := tx.Exec(ctx, `UPDATE deployment_schedule SET slug = NULL WHERE id = $1`, ids[i]); err != nil {
				return fmt.Errorf("clear schedule slug: %w", err)
			}
		}
	}
	for i := range patches {
		if _, err := updateSchedule(ctx, tx, `id = $1`, &patches[i].Update, now, ids[i]); err != nil {
			return err
		}
	}
	return nil
}

// DeploymentScheduleList implements storage.Store.
func (s *Store) DeploymentScheduleList(ctx context.Context, deploymentID uuid.UUID) ([]apitype.DeploymentSchedule, error) {
	return querySchedules(ctx, s.pool, `deployment_id = $1`, deploymentID)
}

// DeploymentSchedulesCreate implements storage.Store.
func (s *Store) DeploymentSchedulesCreate(ctx context.Context, deploymentID uuid.UUID, scheds []storage.DeploymentScheduleParams, now time.Time) ([]apitype.DeploymentSchedule, error) {
	var out []apitype.DeploymentSchedule
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := insertSchedules(ctx, tx, deploymentID, scheds, now); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(scheds))
		for i := range scheds {
			ids[i] = scheds[i].ID
		}
		var err error
		out, err = querySchedules(ctx, tx, `id = ANY($1::uuid[])`, storage.UUIDStrings(ids))
		return err
	})
	return out, err
}

// DeploymentScheduleUpdate implements storage.Store; it also deletes the
// deployment's future auto-scheduled runs, as Prefect.
func (s *Store) DeploymentScheduleUpdate(ctx context.Context, deploymentID, scheduleID uuid.UUID, u *storage.DeploymentScheduleUpdate, now time.Time) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		ok, err := updateSchedule(ctx, tx, `id = $1 AND deployment_id = $2`, u, now, scheduleID, deploymentID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("update schedule: %w", storage.ErrNotFound)
		}
		_, err = deleteScheduledRuns(ctx, tx, deploymentID, nil, now, true)
		return err
	})
}

// DeploymentScheduleDelete implements storage.Store; it also deletes the
// deployment's auto-scheduled runs, as Prefect.
func (s *Store) DeploymentScheduleDelete(ctx context.Context, deploymentID, scheduleID uuid.UUID) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, "delete schedule", `DELETE FROM deployment_schedule WHERE id = $1 AND deployment_id = $2`,
			scheduleID, deploymentID); err != nil {
			return err
		}
		_, err := deleteScheduledRuns(ctx, tx, deploymentID, nil, time.Time{}, true)
		return err
	})
}

// DeploymentsMarkPolled implements storage.Store. updated is left alone,
// as Prefect does, so the scheduler does not see a changed deployment.
func (s *Store) DeploymentsMarkPolled(ctx context.Context, ids []uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	return s.markDeployments(ctx, `id = ANY($1::uuid[])`, storage.UUIDStrings(ids), apitype.DeploymentStatusReady, &now)
}

// DeploymentsMarkNotReady implements storage.Store.
func (s *Store) DeploymentsMarkNotReady(ctx context.Context, cutoff, now time.Time) ([]uuid.UUID, error) {
	return s.markDeployments(ctx, `status = 'READY' AND (last_polled IS NULL OR last_polled < $1)`,
		storage.DBTime(cutoff), apitype.DeploymentStatusNotReady, nil)
}

// markDeployments sets status (and last_polled when given) on the rows
// matching where (one argument, $1), locked in id order as Prefect, and
// returns those whose status changed.
func (s *Store) markDeployments(ctx context.Context, where string, arg any, status string, polled *time.Time) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, status FROM deployment WHERE `+where+` ORDER BY id FOR UPDATE`, arg)
		if err != nil {
			return fmt.Errorf("mark deployments: %w", err)
		}
		type row struct {
			ID     uuid.UUID
			Status string
		}
		locked, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			return fmt.Errorf("mark deployments: %w", err)
		}
		ids := make([]string, len(locked))
		for i, r := range locked {
			ids[i] = r.ID.String()
			if r.Status != status {
				out = append(out, r.ID)
			}
		}
		var polledAt any
		if polled != nil {
			polledAt = storage.DBTime(*polled)
		}
		if _, err := tx.Exec(ctx, `UPDATE deployment SET status = $1, last_polled = COALESCE($2, last_polled)
			WHERE id = ANY($3::uuid[])`, status, polledAt, ids); err != nil {
			return fmt.Errorf("mark deployments: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LockDeploymentConcurrency implements storage.DeploymentTx: the limit row
// is locked FOR UPDATE, as the other slot writers lock v2 limits.
func (t *runTx) LockDeploymentConcurrency(ctx context.Context, id uuid.UUID) (*storage.DeploymentConcurrency, error) {
	var (
		limitID *uuid.UUID
		opts    *string
	)
	err := t.tx.QueryRow(ctx, `SELECT concurrency_limit_id, concurrency_options FROM deployment WHERE id = $1`, id).Scan(&limitID, &opts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read deployment concurrency: %w", err)
	}
	return storage.DecodeDeploymentConcurrency(id, opts, func() (*apitype.ConcurrencyLimitV2, error) {
		if limitID == nil {
			return nil, nil
		}
		rows, err := queryLimitsV2(ctx, t.tx, `id = $1`, `FOR UPDATE`, *limitID)
		if err != nil || len(rows) == 0 {
			return nil, err
		}
		return &rows[0], nil
	})
}
