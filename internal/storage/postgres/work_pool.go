package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const workPoolColumns = `id, created, updated, name, description, type, base_job_template, is_paused,
	concurrency_limit, default_queue_id, storage_configuration`

// selectWorkPools binds now first (the online-worker subquery), so WHERE
// placeholders number after it.
func selectWorkPools(w *storage.Where, now time.Time) string {
	return `SELECT ` + workPoolColumns + `, ` + w.WorkerOnlineSQL("work_pool.id", now) + ` FROM work_pool`
}

func scanWorkPool(r pgx.Row) (*apitype.WorkPool, error) {
	var (
		p            apitype.WorkPool
		tmpl, stconf string
		online       bool
	)
	if err := r.Scan(&p.ID, &p.Created, &p.Updated, &p.Name, &p.Description, &p.Type, &tmpl, &p.IsPaused,
		&p.ConcurrencyLimit, &p.DefaultQueueID, &stconf, &online); err != nil {
		return nil, interpretError(err)
	}
	p.Created, p.Updated = p.Created.UTC(), p.Updated.UTC()
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

func getWorkPool(ctx context.Context, q querier, name string, now time.Time) (*apitype.WorkPool, error) {
	w := storage.NewWhere(dialect{})
	sel := selectWorkPools(w, now)
	p, err := scanWorkPool(q.QueryRow(ctx, sel+` WHERE name = `+w.Bind(name), w.Args...))
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
	err = s.write(ctx, func(tx pgx.Tx) error {
		now := storage.DBTime(p.Now)
		if _, err := tx.Exec(ctx, `INSERT INTO work_pool (`+workPoolColumns+`)
			VALUES ($1, $2, $2, $3, $4, $5, $6::json, $7, $8, $9, $10::json)`,
			p.ID, now, p.Name, p.Description, p.Type, tmpl, p.IsPaused, p.ConcurrencyLimit, p.DefaultQueueID, stconf); err != nil {
			return fmt.Errorf("insert work pool: %w", interpretError(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO work_queue (id, created, updated, name, description, priority, work_pool_id)
			VALUES ($1, $2, $2, $3, $4, 1, $5)`, p.DefaultQueueID, now, apitype.DefaultWorkQueueName,
			apitype.DefaultWorkQueueComment, p.ID); err != nil {
			return fmt.Errorf("insert default queue: %w", interpretError(err))
		}
		out, err = getWorkPool(ctx, tx, p.Name, p.Now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WorkPoolGetByName implements storage.Store.
func (s *Store) WorkPoolGetByName(ctx context.Context, name string, now time.Time) (*apitype.WorkPool, error) {
	return getWorkPool(ctx, s.pool, name, now)
}

// WorkPoolList implements storage.Store.
func (s *Store) WorkPoolList(ctx context.Context, p *storage.WorkPoolListParams) ([]apitype.WorkPool, error) {
	w := storage.NewWhere(dialect{})
	sel := selectWorkPools(w, p.Now)
	cond, err := w.WorkPool(p.Filter)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sel+` WHERE `+cond+` ORDER BY name, id`+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list work pools: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.WorkPool, error) {
		wp, err := scanWorkPool(r)
		if err != nil {
			return apitype.WorkPool{}, err
		}
		return *wp, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list work pools: %w", err)
	}
	if out == nil {
		out = []apitype.WorkPool{}
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
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM work_pool WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count work pools: %w", err)
	}
	return n, nil
}

// setList collects `col = $n` assignments.
type setList struct {
	sets []string
	args []any
}

func (l *setList) add(col string, v any, cast string) {
	l.args = append(l.args, v)
	l.sets = append(l.sets, fmt.Sprintf("%s = $%d%s", col, len(l.args), cast))
}

// WorkPoolUpdate implements storage.Store.
func (s *Store) WorkPoolUpdate(ctx context.Context, name string, u *apitype.WorkPoolUpdate, now time.Time) error {
	var l setList
	l.add("updated", storage.DBTime(now), "")
	if u.DescriptionSet {
		l.add("description", u.Description, "")
	}
	if u.IsPaused != nil {
		l.add("is_paused", *u.IsPaused, "")
	}
	if u.BaseJobTemplate != nil {
		l.add("base_job_template", string(u.BaseJobTemplate), "::json")
	}
	if u.ConcurrencyLimitSet {
		l.add("concurrency_limit", u.ConcurrencyLimit, "")
	}
	if u.StorageConfiguration != nil {
		st, err := jsonText(u.StorageConfiguration)
		if err != nil {
			return err
		}
		l.add("storage_configuration", st, "::json")
	}
	l.args = append(l.args, name)
	return execOne(ctx, s.pool, "update work pool",
		`UPDATE work_pool SET `+strings.Join(l.sets, ", ")+fmt.Sprintf(` WHERE name = $%d`, len(l.args)), l.args...)
}

// WorkPoolDelete implements storage.Store. Queues and workers cascade.
func (s *Store) WorkPoolDelete(ctx context.Context, name string) error {
	return execOne(ctx, s.pool, "delete work pool", `DELETE FROM work_pool WHERE name = $1`, name)
}
