package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const selectWorkQueues = `SELECT wq.id, wq.created, wq.updated, wq.name, wq.description, wq.is_paused,
	wq.concurrency_limit, wq.priority, wq.filter, wq.last_polled, wq.work_pool_id, wp.name
	FROM work_queue wq JOIN work_pool wp ON wp.id = wq.work_pool_id`

func scanWorkQueue(r pgx.Row, now time.Time) (*apitype.WorkQueue, error) {
	var (
		q      apitype.WorkQueue
		filter *string
	)
	if err := r.Scan(&q.ID, &q.Created, &q.Updated, &q.Name, &q.Description, &q.IsPaused, &q.ConcurrencyLimit,
		&q.Priority, &filter, &q.LastPolled, &q.WorkPoolID, &q.WorkPoolName); err != nil {
		return nil, interpretError(err)
	}
	q.Created, q.Updated = q.Created.UTC(), q.Updated.UTC()
	if q.LastPolled != nil {
		t := q.LastPolled.UTC()
		q.LastPolled = &t
	}
	if filter != nil && *filter != "null" {
		q.Filter = &apitype.QueueFilter{}
		if err := json.Unmarshal([]byte(*filter), q.Filter); err != nil {
			return nil, fmt.Errorf("decode queue filter: %w", err)
		}
	}
	q.Status = storage.WorkQueueStatus(q.IsPaused, q.LastPolled, now)
	return &q, nil
}

func getWorkQueue(ctx context.Context, q querier, where string, now time.Time, args ...any) (*apitype.WorkQueue, error) {
	wq, err := scanWorkQueue(q.QueryRow(ctx, selectWorkQueues+` WHERE `+where, args...), now)
	if err != nil {
		return nil, fmt.Errorf("get work queue: %w", err)
	}
	return wq, nil
}

// lockPool finds the pool by name and locks its row, so concurrent queue
// changes in one pool re-rank priorities one after another.
func lockPool(ctx context.Context, tx pgx.Tx, where string, arg any) (uuid.UUID, error) {
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM work_pool WHERE `+where+` FOR UPDATE`, arg).Scan(&id)
	if err != nil {
		return uuid.Nil, fmt.Errorf("find work pool: %w", interpretError(err))
	}
	return id, nil
}

// rerank applies storage.RerankQueues to the pool's queues inside tx.
func rerank(ctx context.Context, tx pgx.Tx, poolID uuid.UUID, moved map[uuid.UUID]int64) error {
	rows, err := tx.Query(ctx, `SELECT id, priority FROM work_queue WHERE work_pool_id = $1 ORDER BY priority, name`, poolID)
	if err != nil {
		return fmt.Errorf("read priorities: %w", err)
	}
	var (
		ids   []uuid.UUID
		prios []int64
	)
	for rows.Next() {
		var id uuid.UUID
		var p int64
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return fmt.Errorf("read priorities: %w", err)
		}
		ids, prios = append(ids, id), append(prios, p)
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
		if _, err := tx.Exec(ctx, `UPDATE work_queue SET priority = $1 WHERE id = $2`, final[id], id); err != nil {
			return fmt.Errorf("update priority: %w", err)
		}
	}
	return nil
}

// WorkQueueCreate implements storage.Store.
func (s *Store) WorkQueueCreate(ctx context.Context, p *storage.WorkQueueCreateParams) (*apitype.WorkQueue, error) {
	var filter *string
	if p.Filter != nil {
		f, err := jsonText(p.Filter)
		if err != nil {
			return nil, err
		}
		filter = &f
	}
	var out *apitype.WorkQueue
	err := s.write(ctx, func(tx pgx.Tx) error {
		poolID, err := lockPool(ctx, tx, `name = $1`, p.PoolName)
		if err != nil {
			return err
		}
		prio := int64(0)
		if p.Priority != nil {
			prio = *p.Priority
		} else {
			rows, err := tx.Query(ctx, `SELECT priority FROM work_queue WHERE work_pool_id = $1`, poolID)
			if err != nil {
				return fmt.Errorf("read priorities: %w", err)
			}
			taken, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("read priorities: %w", err)
			}
			prio = storage.FirstFreePriority(taken)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO work_queue (id, created, updated, name, description, is_paused,
			concurrency_limit, priority, filter, work_pool_id) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)`,
			p.ID, storage.DBTime(p.Now), p.Name, p.Description, p.IsPaused, p.ConcurrencyLimit, prio, filter, poolID); err != nil {
			return fmt.Errorf("insert work queue: %w", interpretError(err))
		}
		if p.Priority != nil {
			if err := rerank(ctx, tx, poolID, map[uuid.UUID]int64{p.ID: *p.Priority}); err != nil {
				return err
			}
		}
		out, err = getWorkQueue(ctx, tx, `wq.id = $1`, p.Now, p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WorkQueueGet implements storage.Store.
func (s *Store) WorkQueueGet(ctx context.Context, id uuid.UUID, now time.Time) (*apitype.WorkQueue, error) {
	return getWorkQueue(ctx, s.pool, `wq.id = $1`, now, id)
}

// WorkQueueGetByName implements storage.Store.
func (s *Store) WorkQueueGetByName(ctx context.Context, pool, name string, now time.Time) (*apitype.WorkQueue, error) {
	return getWorkQueue(ctx, s.pool, `wp.name = $1 AND wq.name = $2`, now, pool, name)
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
	rows, err := s.pool.Query(ctx, selectWorkQueues+` WHERE `+cond+` ORDER BY wq.priority, wq.name, wq.id`+
		pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list work queues: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.WorkQueue, error) {
		q, err := scanWorkQueue(r, p.Now)
		if err != nil {
			return apitype.WorkQueue{}, err
		}
		return *q, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list work queues: %w", err)
	}
	if out == nil {
		out = []apitype.WorkQueue{}
	}
	return out, nil
}

// WorkQueueUpdate implements storage.Store.
func (s *Store) WorkQueueUpdate(ctx context.Context, id uuid.UUID, u *apitype.WorkQueueUpdate, now time.Time) error {
	var l setList
	l.add("updated", storage.DBTime(now), "")
	if u.Name != nil {
		l.add("name", *u.Name, "")
	}
	if u.Description != nil {
		l.add("description", *u.Description, "")
	}
	if u.IsPaused != nil {
		l.add("is_paused", *u.IsPaused, "")
	}
	if u.ConcurrencyLimitSet {
		l.add("concurrency_limit", u.ConcurrencyLimit, "")
	}
	if u.LastPolled != nil {
		l.add("last_polled", storage.DBTime(*u.LastPolled), "")
	}
	if u.Priority != nil {
		l.add("priority", *u.Priority, "")
	}
	l.args = append(l.args, id)
	return s.write(ctx, func(tx pgx.Tx) error {
		poolID, err := lockPool(ctx, tx, `id = (SELECT work_pool_id FROM work_queue WHERE id = $1)`, id)
		if err != nil {
			return err
		}
		if err := execOne(ctx, tx, "update work queue", `UPDATE work_queue SET `+strings.Join(l.sets, ", ")+
			fmt.Sprintf(` WHERE id = $%d`, len(l.args)), l.args...); err != nil {
			return err
		}
		if u.Priority == nil {
			return nil
		}
		return rerank(ctx, tx, poolID, map[uuid.UUID]int64{id: *u.Priority})
	})
}

// WorkQueueDelete implements storage.Store.
func (s *Store) WorkQueueDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		poolID, err := lockPool(ctx, tx, `id = (SELECT work_pool_id FROM work_queue WHERE id = $1)`, id)
		if err != nil {
			return err
		}
		var isDefault bool
		if err := tx.QueryRow(ctx, `SELECT coalesce(default_queue_id = $1, false) FROM work_pool WHERE id = $2`,
			id, poolID).Scan(&isDefault); err != nil {
			return fmt.Errorf("delete work queue: %w", interpretError(err))
		}
		if isDefault {
			return storage.ErrDefaultQueue
		}
		if err := execOne(ctx, tx, "delete work queue", `DELETE FROM work_queue WHERE id = $1`, id); err != nil {
			return err
		}
		return rerank(ctx, tx, poolID, nil)
	})
}
