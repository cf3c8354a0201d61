package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const scheduleColumns = `id, created, updated, deployment_id, schedule, active, max_scheduled_runs, parameters, slug`

// querySchedules lists schedules as Prefect orders them: last updated
// first (ties: last created first).
func querySchedules(ctx context.Context, q queryer, where string, args ...any) ([]apitype.DeploymentSchedule, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM deployment_schedule WHERE `+where+
		` ORDER BY updated DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	out := []apitype.DeploymentSchedule{}
	for rows.Next() {
		var (
			s                                          apitype.DeploymentSchedule
			id, created, updated, depID, sched, params string
			maxRuns                                    sql.NullInt64
		)
		if err := rows.Scan(&id, &created, &updated, &depID, &sched, &s.Active, &maxRuns, &params, &s.Slug); err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if s.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("decode schedule id: %w", err)
		}
		if s.DeploymentID, err = uuid.Parse(depID); err != nil {
			return nil, fmt.Errorf("decode schedule deployment id: %w", err)
		}
		if s.Created, err = decodeTime(created); err != nil {
			return nil, err
		}
		if s.Updated, err = decodeTime(updated); err != nil {
			return nil, err
		}
		if maxRuns.Valid {
			s.MaxScheduledRuns = &maxRuns.Int64
		}
		if err := storage.DecodeSchedule(&s, sched, params); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func insertSchedules(ctx context.Context, tx *sql.Tx, deploymentID string, scheds []storage.DeploymentScheduleParams, now time.Time) error {
	ts := encodeTime(now)
	for _, sp := range scheds {
		sched, params, err := storage.EncodeSchedule(sp.Schedule, sp.Parameters)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO deployment_schedule (`+scheduleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sp.ID.String(), ts, ts, deploymentID, sched, sp.Active, sp.MaxScheduledRuns, params, sp.Slug); err != nil {
			return fmt.Errorf("insert schedule: %w", interpretError(err))
		}
	}
	return nil
}

// updateSchedule applies u to one schedule; false when no row matched.
func updateSchedule(ctx context.Context, tx *sql.Tx, where string, u *storage.DeploymentScheduleUpdate, now time.Time, args ...any) (bool, error) {
	c := &setClause{}
	c.add("updated", encodeTime(now))
	if u.Schedule != nil {
		sched, _, err := storage.EncodeSchedule(*u.Schedule, nil)
		if err != nil {
			return false, err
		}
		c.add("schedule", sched)
	}
	if u.Active != nil {
		c.add("active", *u.Active)
	}
	if u.MaxScheduledRuns != nil {
		c.add("max_scheduled_runs", *u.MaxScheduledRuns)
	}
	if u.Parameters != nil {
		c.add("parameters", string(u.Parameters))
	}
	if u.Slug != nil {
		c.add("slug", *u.Slug)
	}
	res, err := tx.ExecContext(ctx, `UPDATE deployment_schedule SET `+c.sql()+` WHERE `+where, append(c.args, args...)...)
	if err != nil {
		return false, fmt.Errorf("update schedule: %w", interpretError(err))
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// patchSchedules applies slug-matched updates. Renamed schedules are found
// first and their old slugs cleared, so a rename onto a slug another patch
// frees does not trip the unique index.
func patchSchedules(ctx context.Context, tx *sql.Tx, deploymentID string, patches []storage.DeploymentSchedulePatch, now time.Time) error {
	ids := make([]string, len(patches))
	for i, p := range patches {
		err := tx.QueryRowContext(ctx, `SELECT id FROM deployment_schedule WHERE deployment_id = ? AND slug = ?`,
			deploymentID, p.Target).Scan(&ids[i])
		if err != nil {
			return fmt.Errorf("schedule with slug %q: %w", p.Target, interpretError(err))
		}
	}
	for i, p := range patches {
		if p.Update.Slug != nil && *p.Update.Slug != p.Target {
			if _, err := tx.ExecContext(ctx, `UPDATE deployment_schedule SET slug = NULL WHERE id = ?`, ids[i]); err != nil {
				return fmt.Errorf("clear schedule slug: %w", err)
			}
		}
	}
	for i := range patches {
		if _, err := updateSchedule(ctx, tx, `id = ?`, &patches[i].Update, now, ids[i]); err != nil {
			return err
		}
	}
	return nil
}

// DeploymentScheduleList implements storage.Store.
func (s *Store) DeploymentScheduleList(ctx context.Context, deploymentID uuid.UUID) ([]apitype.DeploymentSchedule, error) {
	return querySchedules(ctx, s.reader, `deployment_id = ?`, deploymentID.String())
}

// DeploymentSchedulesCreate implements storage.Store.
func (s *Store) DeploymentSchedulesCreate(ctx context.Context, deploymentID uuid.UUID, scheds []storage.DeploymentScheduleParams, now time.Time) ([]apitype.DeploymentSchedule, error) {
	var out []apitype.DeploymentSchedule
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := insertSchedules(ctx, tx, deploymentID.String(), scheds, now); err != nil {
			if isForeignKeyError(err) {
				return fmt.Errorf("create schedules: %w", storage.ErrNotFound)
			}
			return err
		}
		ids := make([]uuid.UUID, len(scheds))
		for i := range scheds {
			ids[i] = scheds[i].ID
		}
		var err error
		out, err = querySchedules(ctx, tx, `id IN (SELECT value FROM json_each(?))`, storage.JSONList(storage.UUIDStrings(ids)))
		return err
	})
	return out, err
}

// DeploymentScheduleUpdate implements storage.Store; it also deletes the
// deployment's future auto-scheduled runs, as Prefect.
func (s *Store) DeploymentScheduleUpdate(ctx context.Context, deploymentID, scheduleID uuid.UUID, u *storage.DeploymentScheduleUpdate, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		ok, err := updateSchedule(ctx, tx, `id = ? AND deployment_id = ?`, u, now, scheduleID.String(), deploymentID.String())
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("update schedule: %w", storage.ErrNotFound)
		}
		_, err = deleteScheduledRuns(ctx, tx, deploymentID.String(), nil, now, true)
		return err
	})
}

// DeploymentScheduleDelete implements storage.Store; it also deletes the
// deployment's auto-scheduled runs, as Prefect.
func (s *Store) DeploymentScheduleDelete(ctx context.Context, deploymentID, scheduleID uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, "delete schedule", `DELETE FROM deployment_schedule WHERE id = ? AND deployment_id = ?`,
			scheduleID.String(), deploymentID.String()); err != nil {
			return err
		}
		_, err := deleteScheduledRuns(ctx, tx, deploymentID.String(), nil, time.Time{}, true)
		return err
	})
}

// DeploymentsMarkPolled implements storage.Store. updated is left alone,
// as Prefect does, so the scheduler does not see a changed deployment.
func (s *Store) DeploymentsMarkPolled(ctx context.Context, ids []uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	return s.markDeployments(ctx, `id IN (SELECT value FROM json_each(?))`, []any{storage.JSONList(storage.UUIDStrings(ids))},
		apitype.DeploymentStatusReady, &now)
}

// DeploymentsMarkNotReady implements storage.Store.
func (s *Store) DeploymentsMarkNotReady(ctx context.Context, cutoff, now time.Time) ([]uuid.UUID, error) {
	return s.markDeployments(ctx, `status = 'READY' AND (last_polled IS NULL OR last_polled < ?)`,
		[]any{encodeTime(cutoff)}, apitype.DeploymentStatusNotReady, nil)
}

// markDeployments sets status (and last_polled when given) on the matching
// deployments and returns those whose status changed.
func (s *Store) markDeployments(ctx context.Context, where string, args []any, status string, polled *time.Time) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	err := s.write(ctx, func(tx *sql.Tx) error {
		changed, err := scanDeploymentIDs(ctx, tx, `SELECT id FROM deployment WHERE (`+where+`) AND status != ? ORDER BY id`, append(args, status)...)
		if err != nil {
			return fmt.Errorf("mark deployments: %w", err)
		}
		c := &setClause{}
		c.add("status", status)
		if polled != nil {
			c.add("last_polled", encodeTime(*polled))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deployment SET `+c.sql()+` WHERE `+where, append(c.args, args...)...); err != nil {
			return fmt.Errorf("mark deployments: %w", err)
		}
		for _, id := range changed {
			u, err := uuid.Parse(id)
			if err != nil {
				return fmt.Errorf("mark deployments: %w", err)
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

// LockDeploymentConcurrency implements storage.DeploymentTx. The single
// writer already excludes every other writer, so reading is locking.
func (t *runTx) LockDeploymentConcurrency(ctx context.Context, id uuid.UUID) (*storage.DeploymentConcurrency, error) {
	var (
		limitID sql.NullString
		opts    *string
	)
	err := t.tx.QueryRowContext(ctx, `SELECT concurrency_limit_id, concurrency_options FROM deployment WHERE id = ?`,
		id.String()).Scan(&limitID, &opts)
	if err = interpretError(err); err == storage.ErrNotFound {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read deployment concurrency: %w", err)
	}
	return storage.DecodeDeploymentConcurrency(id, opts, func() (*apitype.ConcurrencyLimitV2, error) {
		if !limitID.Valid {
			return nil, nil
		}
		rows, err := queryLimitsV2(ctx, t.tx, `id = ?`, ``, limitID.String)
		if err != nil || len(rows) == 0 {
			return nil, err
		}
		return &rows[0], nil
	})
}
