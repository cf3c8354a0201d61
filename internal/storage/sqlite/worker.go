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

const workerColumns = `id, created, updated, name, work_pool_id, last_heartbeat_time, heartbeat_interval_seconds, offline_after`

func scanWorker(r rowScanner, now time.Time) (*apitype.Worker, error) {
	var (
		wk                                          apitype.Worker
		id, created, updated, poolID, beat, offline string
		interval                                    sql.NullInt64
	)
	if err := r.Scan(&id, &created, &updated, &wk.Name, &poolID, &beat, &interval, &offline); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if wk.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode worker id: %w", err)
	}
	if wk.WorkPoolID, err = uuid.Parse(poolID); err != nil {
		return nil, fmt.Errorf("decode work pool id: %w", err)
	}
	if wk.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if wk.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	t, err := decodeTime(beat)
	if err != nil {
		return nil, err
	}
	wk.LastHeartbeatTime = &t
	off, err := decodeTime(offline)
	if err != nil {
		return nil, err
	}
	if interval.Valid {
		wk.HeartbeatIntervalSeconds = &interval.Int64
	}
	wk.Status = storage.WorkerStatus(off, now)
	return &wk, nil
}

// WorkerHeartbeat implements storage.Store. A heartbeat without an interval
// keeps the one the worker sent before, as Prefect's upsert does.
func (s *Store) WorkerHeartbeat(ctx context.Context, p *storage.WorkerHeartbeatParams) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var poolID string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM work_pool WHERE name = ?`, p.PoolName).Scan(&poolID); err != nil {
			return fmt.Errorf("find work pool: %w", interpretError(err))
		}
		interval := p.HeartbeatIntervalSeconds
		if interval == nil {
			var prev sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT heartbeat_interval_seconds FROM worker WHERE work_pool_id = ? AND name = ?`,
				poolID, p.Name).Scan(&prev)
			if err != nil && err != sql.ErrNoRows {
				return fmt.Errorf("read worker: %w", err)
			}
			if prev.Valid {
				interval = &prev.Int64
			}
		}
		now := encodeTime(p.Now)
		offline := encodeTime(storage.WorkerOfflineAfter(p.Now, interval))
		_, err := tx.ExecContext(ctx, `INSERT INTO worker (`+workerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (work_pool_id, name) DO UPDATE SET updated = excluded.updated,
			last_heartbeat_time = excluded.last_heartbeat_time,
			heartbeat_interval_seconds = excluded.heartbeat_interval_seconds, offline_after = excluded.offline_after`,
			p.ID.String(), now, now, p.Name, poolID, now, interval, offline)
		if err != nil {
			return fmt.Errorf("record heartbeat: %w", interpretError(err))
		}
		return nil
	})
}

// WorkerList implements storage.Store.
func (s *Store) WorkerList(ctx context.Context, p *storage.WorkerListParams) ([]apitype.Worker, error) {
	w := storage.NewWhere(dialect{})
	pool := w.Bind(p.PoolName) // first: SQLite placeholders are positional
	cond, err := w.Worker(p.Filter, p.Now)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + workerColumns + ` FROM worker WHERE work_pool_id = (SELECT id FROM work_pool WHERE name = ` +
		pool + `) AND ` + cond + ` ORDER BY last_heartbeat_time DESC, id` + pageClause(w, p.Limit, p.Offset)
	rows, err := s.reader.QueryContext(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rows.Close()
	out := []apitype.Worker{}
	for rows.Next() {
		wk, err := scanWorker(rows, p.Now)
		if err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		out = append(out, *wk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return out, nil
}

// WorkerDelete implements storage.Store.
func (s *Store) WorkerDelete(ctx context.Context, pool, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete worker", `DELETE FROM worker WHERE name = ? AND
			work_pool_id = (SELECT id FROM work_pool WHERE name = ?)`, name, pool)
	})
}
