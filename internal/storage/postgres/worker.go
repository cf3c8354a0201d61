package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const workerColumns = `id, created, updated, name, work_pool_id, last_heartbeat_time, heartbeat_interval_seconds, offline_after`

func scanWorker(r pgx.Row, now time.Time) (*apitype.Worker, error) {
	var (
		wk            apitype.Worker
		beat, offline time.Time
	)
	if err := r.Scan(&wk.ID, &wk.Created, &wk.Updated, &wk.Name, &wk.WorkPoolID, &beat,
		&wk.HeartbeatIntervalSeconds, &offline); err != nil {
		return nil, interpretError(err)
	}
	wk.Created, wk.Updated, beat = wk.Created.UTC(), wk.Updated.UTC(), beat.UTC()
	wk.LastHeartbeatTime = &beat
	wk.Status = storage.WorkerStatus(offline, now)
	return &wk, nil
}

// WorkerHeartbeat implements storage.Store. A heartbeat without an interval
// keeps the one the worker sent before, as Prefect's upsert does.
func (s *Store) WorkerHeartbeat(ctx context.Context, p *storage.WorkerHeartbeatParams) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		poolID, err := lockPool(ctx, tx, `name = $1`, p.PoolName)
		if err != nil {
			return err
		}
		interval := p.HeartbeatIntervalSeconds
		if interval == nil {
			var prev *int64
			err := tx.QueryRow(ctx, `SELECT heartbeat_interval_seconds FROM worker WHERE work_pool_id = $1 AND name = $2`,
				poolID, p.Name).Scan(&prev)
			if err != nil && err != pgx.ErrNoRows {
				return fmt.Errorf("read worker: %w", err)
			}
			interval = prev
		}
		now := storage.DBTime(p.Now)
		_, err = tx.Exec(ctx, `INSERT INTO worker (`+workerColumns+`) VALUES ($1, $2, $2, $3, $4, $2, $5, $6)
			ON CONFLICT (work_pool_id, name) DO UPDATE SET updated = excluded.updated,
			last_heartbeat_time = excluded.last_heartbeat_time,
			heartbeat_interval_seconds = excluded.heartbeat_interval_seconds, offline_after = excluded.offline_after`,
			p.ID, now, p.Name, poolID, interval, storage.DBTime(storage.WorkerOfflineAfter(p.Now, interval)))
		if err != nil {
			return fmt.Errorf("record heartbeat: %w", interpretError(err))
		}
		return nil
	})
}

// WorkerList implements storage.Store.
func (s *Store) WorkerList(ctx context.Context, p *storage.WorkerListParams) ([]apitype.Worker, error) {
	w := storage.NewWhere(dialect{})
	pool := w.Bind(p.PoolName)
	cond, err := w.Worker(p.Filter, p.Now)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + workerColumns + ` FROM worker WHERE work_pool_id = (SELECT id FROM work_pool WHERE name = ` +
		pool + `) AND ` + cond + ` ORDER BY last_heartbeat_time DESC, id` + pageClause(w, p.Limit, p.Offset)
	rows, err := s.pool.Query(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.Worker, error) {
		wk, err := scanWorker(r, p.Now)
		if err != nil {
			return apitype.Worker{}, err
		}
		return *wk, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	if out == nil {
		out = []apitype.Worker{}
	}
	return out, nil
}

// WorkerDelete implements storage.Store.
func (s *Store) WorkerDelete(ctx context.Context, pool, name string) error {
	return execOne(ctx, s.pool, "delete worker", `DELETE FROM worker WHERE name = $1 AND
		work_pool_id = (SELECT id FROM work_pool WHERE name = $2)`, name, pool)
}
