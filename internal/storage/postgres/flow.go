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

const flowColumns = `id, created, updated, name, tags, labels`

func scanFlow(r pgx.Row) (*apitype.Flow, error) {
	var (
		f      apitype.Flow
		tags   string
		labels *string
	)
	if err := r.Scan(&f.ID, &f.Created, &f.Updated, &f.Name, &tags, &labels); err != nil {
		return nil, interpretError(err)
	}
	f.Created, f.Updated = f.Created.UTC(), f.Updated.UTC()
	var err error
	if f.Tags, err = decodeTags(tags); err != nil {
		return nil, err
	}
	if labels != nil {
		if err := json.Unmarshal([]byte(*labels), &f.Labels); err != nil {
			return nil, fmt.Errorf("decode flow labels: %w", err)
		}
	}
	return &f, nil
}

func decodeTags(s string) ([]string, error) {
	tags := []string{}
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

func encodeLabels(labels map[string]any) (*string, error) {
	if labels == nil {
		return nil, nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return nil, fmt.Errorf("encode labels: %w", err)
	}
	s := string(b)
	return &s, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getFlow(ctx context.Context, q querier, where string, arg any) (*apitype.Flow, error) {
	f, err := scanFlow(q.QueryRow(ctx, `SELECT `+flowColumns+` FROM flow WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get flow: %w", err)
	}
	return f, nil
}

// FlowCreate implements storage.Store. ON CONFLICT DO NOTHING waits for a
// concurrent insert of the same name, so the SELECT then sees the winner.
func (s *Store) FlowCreate(ctx context.Context, p *storage.FlowCreateParams) (*apitype.Flow, bool, error) {
	labels, err := encodeLabels(p.Labels)
	if err != nil {
		return nil, false, err
	}
	var (
		flow    *apitype.Flow
		created bool
	)
	err = s.write(ctx, func(tx pgx.Tx) error {
		now := storage.DBTime(p.Now)
		tag, err := tx.Exec(ctx, `INSERT INTO flow (`+flowColumns+`) VALUES ($1, $2, $2, $3, $4::jsonb, $5::jsonb)
			ON CONFLICT (name) DO NOTHING`, p.ID, now, p.Name, storage.JSONList(p.Tags), labels)
		if err != nil {
			return fmt.Errorf("insert flow: %w", interpretError(err))
		}
		created = tag.RowsAffected() == 1
		flow, err = getFlow(ctx, tx, `name = $1`, p.Name)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return flow, created, nil
}

// FlowGet implements storage.Store.
func (s *Store) FlowGet(ctx context.Context, id uuid.UUID) (*apitype.Flow, error) {
	return getFlow(ctx, s.pool, `id = $1`, id)
}

// FlowGetByName implements storage.Store.
func (s *Store) FlowGetByName(ctx context.Context, name string) (*apitype.Flow, error) {
	return getFlow(ctx, s.pool, `name = $1`, name)
}

// FlowList implements storage.Store. Limit <= 0 means no limit.
func (s *Store) FlowList(ctx context.Context, p *storage.FlowListParams) ([]apitype.Flow, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowQuery(&p.FlowQuery)
	if err != nil {
		return nil, err
	}
	order, err := storage.FlowOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+flowColumns+` FROM flow WHERE `+cond+` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.Flow, error) {
		f, err := scanFlow(r)
		if err != nil {
			return apitype.Flow{}, err
		}
		return *f, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	if out == nil {
		out = []apitype.Flow{}
	}
	return out, nil
}

// FlowCount implements storage.Store.
func (s *Store) FlowCount(ctx context.Context, q *storage.FlowQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowQuery(q)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM flow WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count flows: %w", err)
	}
	return n, nil
}

// FlowUpdate implements storage.Store.
func (s *Store) FlowUpdate(ctx context.Context, id uuid.UUID, p *apitype.FlowUpdate, now time.Time) error {
	sets := []string{"updated = $1"}
	args := []any{storage.DBTime(now)}
	if p.Tags != nil {
		args = append(args, storage.JSONList(*p.Tags))
		sets = append(sets, fmt.Sprintf("tags = $%d::jsonb", len(args)))
	}
	args = append(args, id)
	return execOne(ctx, s.pool, "update flow",
		`UPDATE flow SET `+strings.Join(sets, ", ")+fmt.Sprintf(` WHERE id = $%d`, len(args)), args...)
}

// FlowDelete implements storage.Store.
func (s *Store) FlowDelete(ctx context.Context, id uuid.UUID) error {
	return execOne(ctx, s.pool, "delete flow", `DELETE FROM flow WHERE id = $1`, id)
}

// FlowDeleteMany implements storage.Store: the first limit matches by
// name, as Prefect reads them (NAME_ASC); limit <= 0 means no limit.
func (s *Store) FlowDeleteMany(ctx context.Context, f *apitype.FlowFilter, limit int) ([]uuid.UUID, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.Flow(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `DELETE FROM flow WHERE id IN (SELECT id FROM flow WHERE `+cond+
		` ORDER BY name`+pageClause(w, limit, 0)+`) RETURNING id`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("delete flows: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("delete flows: %w", err)
	}
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, nil
}
