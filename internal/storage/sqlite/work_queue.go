package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const selectWorkQueues = `SELECT wq.id, wq.created, wq.updated, wq.name, wq.description, wq.is_paused,
	wq.concurrency_limit, wq.priority, wq.filter, wq.last_polled, wq.work_pool_id, wp.name
	FROM work_queue wq JOIN work_pool wp ON wp.id = wq.work_pool_id`

func scanWorkQueue(r rowScanner, now time.Time) (*apitype.WorkQueue, error) {
	var (
		q                            apitype.WorkQueue
		id, created, updated, poolID string
		limit                        sql.NullInt64
		filter, lastPolled           sql.NullString
	)
	if err := r.Scan(&id, &created, &updated, &q.Name, &q.Description, &q.IsPaused, &limit, &q.Priority,
		&filter, &lastPolled, &poolID, &q.WorkPoolName); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if q.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode work queue id: %w", err)
	}
	if q.WorkPoolID, err = uuid.Parse(poolID); err != nil {
		return nil, fmt.Errorf("decode work pool id: %w", err)
	}
	if q.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if q.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if lastPolled.Valid {
		t, err := decodeTime(lastPolled.String)
		if err != nil {
			return nil, err
		}
		q.LastPolled = &t
	}
	if limit.Valid {
		q.ConcurrencyLimit = &limit.Int64
	}
	if filter.Valid && filter.String != "null" {
		q.Filter = &apitype.QueueFilter{}
		if err := json.Unmarshal([]byte(filter.String), q.Filter); err != nil {
			return nil, fmt.Errorf("decode queue filter: %w", err)
		}
	}
	q.Status = storage.WorkQueueStatus(q.IsPaused, q.LastPolled, now)
	return &q, nil
}

func getWorkQueue(ctx context.Context, q queryer, where string, now time.Time, args ...any) (*apitype.WorkQueue, error) {
	wq, err := scanWorkQueue(q.QueryRowContext(ctx, selectWorkQueues+` WHERE `+where, args...), now)
	if err != nil {
		return nil, fmt.Errorf("get work queue: %w", err)
	}
	return wq, nil
}

// rerank applies storage.RerankQueues to the pool's queues inside tx.
func rerank(ctx context.Context, tx *sql.Tx, poolID string, moved map[uuid.UUID]int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, priority FROM work_queue WHERE work_pool_id = ? ORDER BY priority, name`, poolID)
	if err != nil {
		return fmt.Errorf("read priorities: %w", err)
	}
	var (
		ids   []uuid.UUID
		prios []int64
	)
	for rows.Next() {
		var id string
		var p int64
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return fmt.Errorf("read priorities: %w", err)
		}
		u, err := uuid.Parse(id)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read priorities: %w", err)
		}
		ids, prios = append(ids, u), append(prios, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read priorities: %w", err)
	}
	final := storage.RerankQueues(ids, prios, moved)
	for i, id := range ids {
		if final[id] == prios[i] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE work_queue SET priority = ? WHERE id = ?`, final[id], id.String()); err != nil {
			return fmt.Errorf("update priority: %w", err)
		}
	}
	return nil
}

// WorkQueueCreate implements storage.Store.
func (s *Store) WorkQueueCreate(ctx context.Context, p *storage.WorkQueueCreateParams) (*apitype.WorkQueue, error) {
	var filter any
	if p.Filter != nil {
		f, err := jsonText(p.Filter)
		if err != nil {
			return nil, err
		}
		filter = f
	}
	var out *apitype.WorkQueue
	err := s.write(ctx, func(tx *sql.Tx) error {
		var poolID string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM work_pool WHERE name = ?`, p.PoolName).Scan(&poolID); err != nil {
			return fmt.Errorf("find work pool: %w", interpretError(err))
		}
		prio, err := firstFreePriority(ctx, tx, poolID, p.Priority)
		if err != nil {
			return err
		}
		now := encodeTime(p.Now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO work_queue (id, created, updated, name, description, is_paused,
			concurrency_limit, priority, filter, work_pool_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID.String(), now, now, p.Name, p.Description, p.IsPaused, p.ConcurrencyLimit, prio, filter, poolID); err != nil {
			return fmt.Errorf("insert work queue: %w", interpretError(err))
		}
		if p.Priority != nil {
			if err := rerank(ctx, tx, poolID, map[uuid.UUID]int64{p.ID: *p.Priority}); err != nil {
				return err
			}
		}
		out, err = getWorkQueue(ctx, tx, `wq.id = ?`, p.Now, p.ID.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// firstFreePriority is Prefect's default rank: the first gap in 1..n, else max+1.
func firstFreePriority(ctx context.Context, tx *sql.Tx, poolID string, given *int64) (int64, error) {
	if given != nil {
		return *given, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT priority FROM work_queue WHERE work_pool_id = ?`, poolID)
	if err != nil {
		return 0, fmt.Errorf("read priorities: %w", err)
	}
	defer rows.Close()
	var prios []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return 0, fmt.Errorf("read priorities: %w", err)
		}
		prios = append(prios, p)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read priorities: %w", err)
	}
	return storage.FirstFreePriority(prios), nil
}

// WorkQueueGet implements storage.Store.
func (s *Store) WorkQueueGet(ctx context.Context, id uuid.UUID, now time.Time) (*apitype.WorkQueue, error) {
	return getWorkQueue(ctx, s.reader, `wq.id = ?`, now, id.String())
}

// WorkQueueGetByName implements storage.Store.
func (s *Store) WorkQueueGetByName(ctx context.Context, pool, name string, now time.Time) (*apitype.WorkQueue, error) {
	return getWorkQueue(ctx, s.reader, `wp.name = ? AND wq.name = ?`, now, pool, name)
}

// WorkQueueList implements storage.Store.
func (s *Store) WorkQueueList(ctx context.Context, p *storage.WorkQueueListParams) ([]apitype.WorkQueue, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.WorkQueue(p.Filter)
	if err != nil {
		return nil, err
	}
	if p.PoolName != "" {
		cond += ` AND wp.name = ` + w.Bind(p.PoolName)
	}
	rows, err := s.reader.QueryContext(ctx, selectWorkQueues+` WHERE `+cond+` ORDER BY wq.priority, wq.name, wq.id`+
		pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list work queues: %w", err)
	}
	defer rows.Close()
	out := []apitype.WorkQueue{}
	for rows.Next() {
		q, err := scanWorkQueue(rows, p.Now)
		if err != nil {
			return nil, fmt.Errorf("list work queues: %w", err)
		}
		out = append(out, *q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list work queues: %w", err)
	}
	return out, nil
}

// WorkQueueUpdate implements storage.Store.
func (s *Store) WorkQueueUpdate(ctx context.Context, id uuid.UUID, u *apitype.WorkQueueUpdate, now time.Time) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(now)}
	if u.Name != nil {
		sets, args = append(sets, "name = ?"), append(args, *u.Name)
	}
	if u.Description != nil {
		sets, args = append(sets, "description = ?"), append(args, *u.Description)
	}
	if u.IsPaused != nil {
		sets, args = append(sets, "is_paused = ?"), append(args, *u.IsPaused)
	}
	if u.ConcurrencyLimitSet {
		sets, args = append(sets, "concurrency_limit = ?"), append(args, u.ConcurrencyLimit)
	}
	if u.LastPolled != nil {
		sets, args = append(sets, "last_polled = ?"), append(args, encodeTime(*u.LastPolled))
	}
	args = append(args, id.String())
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, "update work queue", `UPDATE work_queue SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...); err != nil {
			return err
		}
		if u.Priority == nil {
			return nil
		}
		var poolID string
		if err := tx.QueryRowContext(ctx, `SELECT work_pool_id FROM work_queue WHERE id = ?`, id.String()).Scan(&poolID); err != nil {
			return fmt.Errorf("update work queue: %w", interpretError(err))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE work_queue SET priority = ? WHERE id = ?`, *u.Priority, id.String()); err != nil {
			return fmt.Errorf("update work queue: %w", err)
		}
		return rerank(ctx, tx, poolID, map[uuid.UUID]int64{id: *u.Priority})
	})
}

// WorkQueueDelete implements storage.Store.
func (s *Store) WorkQueueDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var poolID string
		var isDefault bool
		err := tx.QueryRowContext(ctx, `SELECT wq.work_pool_id, coalesce(wp.default_queue_id = wq.id, 0) FROM work_queue wq
			JOIN work_pool wp ON wp.id = wq.work_pool_id WHERE wq.id = ?`, id.String()).Scan(&poolID, &isDefault)
		if err != nil {
			return fmt.Errorf("delete work queue: %w", interpretError(err))
		}
		if isDefault {
			return storage.ErrDefaultQueue
		}
		if err := execOne(ctx, tx, "delete work queue", `DELETE FROM work_queue WHERE id = ?`, id.String()); err != nil {
			return err
		}
		return rerank(ctx, tx, poolID, nil)
	})
}
