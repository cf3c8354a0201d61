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

const workPoolColumns = `id, created, updated, name, description, type, base_job_template, is_paused,
	concurrency_limit, default_queue_id, storage_configuration`

// selectWorkPools binds now first (the online-worker subquery) so its
// argument precedes those of the WHERE clause.
func selectWorkPools(w *storage.Where, now time.Time) string {
	return `SELECT ` + workPoolColumns + `, ` + w.WorkerOnlineSQL("work_pool.id", now) + ` FROM work_pool`
}

func scanWorkPool(r rowScanner) (*apitype.WorkPool, error) {
	var (
		p                                  apitype.WorkPool
		id, created, updated, tmpl, stconf string
		defQueue                           sql.NullString
		limit                              sql.NullInt64
		online                             bool
	)
	if err := r.Scan(&id, &created, &updated, &p.Name, &p.Description, &p.Type, &tmpl, &p.IsPaused,
		&limit, &defQueue, &stconf, &online); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if p.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode work pool id: %w", err)
	}
	if p.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if p.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if defQueue.Valid {
		q, err := uuid.Parse(defQueue.String)
		if err != nil {
			return nil, fmt.Errorf("decode default queue id: %w", err)
		}
		p.DefaultQueueID = &q
	}
	if limit.Valid {
		p.ConcurrencyLimit = &limit.Int64
	}
	p.BaseJobTemplate = json.RawMessage(tmpl)
	if err := json.Unmarshal([]byte(stconf), &p.StorageConfiguration); err != nil {
		return nil, fmt.Errorf("decode storage configuration: %w", err)
	}
	p.Status = storage.WorkPoolStatus(p.Type, p.IsPaused, online)
	return &p, nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json: %w", err)
	}
	return string(b), nil
}

func nullUUID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return id.String()
}

func (s *Store) getWorkPool(ctx context.Context, q queryer, name string, now time.Time) (*apitype.WorkPool, error) {
	w := storage.NewWhere(dialect{})
	sel := selectWorkPools(w, now)
	p, err := scanWorkPool(q.QueryRowContext(ctx, sel+` WHERE name = `+w.Bind(name), w.Args...))
	if err != nil {
		return nil, fmt.Errorf("get work pool: %w", err)
	}
	return p, nil
}

// WorkPoolCreate implements storage.Store.
func (s *Store) WorkPoolCreate(ctx context.Context, p *storage.WorkPoolCreateParams) (*apitype.WorkPool, error) {
	tmpl := string(p.BaseJobTemplate)
	if len(p.BaseJobTemplate) == 0 {
		tmpl = "{}"
	}
	stconf, err := jsonText(p.StorageConfiguration)
	if err != nil {
		return nil, err
	}
	var out *apitype.WorkPool
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(p.Now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO work_pool (`+workPoolColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID.String(), now, now, p.Name, p.Description, p.Type, tmpl, p.IsPaused, p.ConcurrencyLimit,
			p.DefaultQueueID.String(), stconf); err != nil {
			return fmt.Errorf("insert work pool: %w", interpretError(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO work_queue (id, created, updated, name, description, priority, work_pool_id)
			VALUES (?, ?, ?, ?, ?, 1, ?)`, p.DefaultQueueID.String(), now, now, apitype.DefaultWorkQueueName,
			apitype.DefaultWorkQueueComment, p.ID.String()); err != nil {
			return fmt.Errorf("insert default queue: %w", interpretError(err))
		}
		out, err = s.getWorkPool(ctx, tx, p.Name, p.Now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WorkPoolGetByName implements storage.Store.
func (s *Store) WorkPoolGetByName(ctx context.Context, name string, now time.Time) (*apitype.WorkPool, error) {
	return s.getWorkPool(ctx, s.reader, name, now)
}

// WorkPoolList implements storage.Store.
func (s *Store) WorkPoolList(ctx context.Context, p *storage.WorkPoolListParams) ([]apitype.WorkPool, error) {
	w := storage.NewWhere(dialect{})
	sel := selectWorkPools(w, p.Now)
	cond, err := w.WorkPool(p.Filter)
	if err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, sel+` WHERE `+cond+` ORDER BY name, id`+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list work pools: %w", err)
	}
	defer rows.Close()
	out := []apitype.WorkPool{}
	for rows.Next() {
		wp, err := scanWorkPool(rows)
		if err != nil {
			return nil, fmt.Errorf("list work pools: %w", err)
		}
		out = append(out, *wp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list work pools: %w", err)
	}
	return out, nil
}

// WorkPoolCount implements storage.Store.
func (s *Store) WorkPoolCount(ctx context.Context, f *apitype.WorkPoolFilter) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.WorkPool(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM work_pool WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count work pools: %w", err)
	}
	return n, nil
}

// WorkPoolUpdate implements storage.Store.
func (s *Store) WorkPoolUpdate(ctx context.Context, name string, u *apitype.WorkPoolUpdate, now time.Time) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(now)}
	if u.DescriptionSet {
		sets, args = append(sets, "description = ?"), append(args, u.Description)
	}
	if u.IsPaused != nil {
		sets, args = append(sets, "is_paused = ?"), append(args, *u.IsPaused)
	}
	if u.BaseJobTemplate != nil {
		sets, args = append(sets, "base_job_template = ?"), append(args, string(u.BaseJobTemplate))
	}
	if u.ConcurrencyLimitSet {
		sets, args = append(sets, "concurrency_limit = ?"), append(args, u.ConcurrencyLimit)
	}
	if u.StorageConfiguration != nil {
		st, err := jsonText(u.StorageConfiguration)
		if err != nil {
			return err
		}
		sets, args = append(sets, "storage_configuration = ?"), append(args, st)
	}
	args = append(args, name)
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "update work pool", `UPDATE work_pool SET `+strings.Join(sets, ", ")+` WHERE name = ?`, args...)
	})
}

// WorkPoolDelete implements storage.Store. Queues and workers cascade.
func (s *Store) WorkPoolDelete(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete work pool", `DELETE FROM work_pool WHERE name = ?`, name)
	})
}
