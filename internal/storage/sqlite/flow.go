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

const flowColumns = `id, created, updated, name, tags, labels`

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type rowScanner interface{ Scan(dest ...any) error }

func scanFlow(r rowScanner) (*apitype.Flow, error) {
	var (
		f                    apitype.Flow
		id, created, updated string
		tags                 string
		labels               sql.NullString
	)
	if err := r.Scan(&id, &created, &updated, &f.Name, &tags, &labels); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if f.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode flow id: %w", err)
	}
	if f.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if f.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if f.Tags, err = decodeTags(tags); err != nil {
		return nil, err
	}
	if labels.Valid {
		if err := json.Unmarshal([]byte(labels.String), &f.Labels); err != nil {
			return nil, fmt.Errorf("decode flow labels: %w", err)
		}
	}
	return &f, nil
}

// encodeTags stores a missing list as [] so the column is never NULL.
func encodeTags(tags []string) string { return storage.JSONList(tags) }

func decodeTags(s string) ([]string, error) {
	tags := []string{}
	if s == "" {
		return tags, nil
	}
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

func encodeLabels(labels map[string]any) (sql.NullString, error) {
	if labels == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode labels: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func getFlow(ctx context.Context, q queryer, where string, arg any) (*apitype.Flow, error) {
	f, err := scanFlow(q.QueryRowContext(ctx, `SELECT `+flowColumns+` FROM flow WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get flow: %w", err)
	}
	return f, nil
}

// FlowCreate implements storage.Store.
func (s *Store) FlowCreate(ctx context.Context, p *storage.FlowCreateParams) (*apitype.Flow, bool, error) {
	labels, err := encodeLabels(p.Labels)
	if err != nil {
		return nil, false, err
	}
	var (
		flow    *apitype.Flow
		created bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(p.Now)
		res, err := tx.ExecContext(ctx, `INSERT INTO flow (`+flowColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, p.ID.String(), now, now, p.Name, encodeTags(p.Tags), labels)
		if err != nil {
			return fmt.Errorf("insert flow: %w", interpretError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert flow: %w", err)
		}
		created = n == 1
		flow, err = getFlow(ctx, tx, `name = ?`, p.Name)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return flow, created, nil
}

// FlowGet implements storage.Store.
func (s *Store) FlowGet(ctx context.Context, id uuid.UUID) (*apitype.Flow, error) {
	return getFlow(ctx, s.reader, `id = ?`, id.String())
}

// FlowGetByName implements storage.Store.
func (s *Store) FlowGetByName(ctx context.Context, name string) (*apitype.Flow, error) {
	return getFlow(ctx, s.reader, `name = ?`, name)
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
	q := `SELECT ` + flowColumns + ` FROM flow WHERE ` + cond + ` ORDER BY ` + order + pageClause(w, p.Limit, p.Offset)
	rows, err := s.reader.QueryContext(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	defer rows.Close()
	out := []apitype.Flow{}
	for rows.Next() {
		f, err := scanFlow(rows)
		if err != nil {
			return nil, fmt.Errorf("list flows: %w", err)
		}
		out = append(out, *f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	return out, nil
}

// pageClause renders LIMIT/OFFSET; SQLite needs a LIMIT (-1: none) before OFFSET.
func pageClause(w *storage.Where, limit, offset int) string {
	if limit <= 0 {
		limit = -1
	}
	return ` LIMIT ` + w.Bind(limit) + ` OFFSET ` + w.Bind(max(offset, 0))
}

// FlowCount implements storage.Store.
func (s *Store) FlowCount(ctx context.Context, q *storage.FlowQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.FlowQuery(q)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM flow WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count flows: %w", err)
	}
	return n, nil
}

// FlowUpdate implements storage.Store.
func (s *Store) FlowUpdate(ctx context.Context, id uuid.UUID, p *apitype.FlowUpdate, now time.Time) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(now)}
	if p.Tags != nil {
		sets = append(sets, "tags = ?")
		args = append(args, encodeTags(*p.Tags))
	}
	args = append(args, id.String())
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "update flow", `UPDATE flow SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
	})
}

// FlowDelete implements storage.Store.
func (s *Store) FlowDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete flow", `DELETE FROM flow WHERE id = ?`, id.String())
	})
}

// FlowDeleteMany implements storage.Store: the first limit matches by
// name, as Prefect reads them (NAME_ASC); limit <= 0 means no limit.
func (s *Store) FlowDeleteMany(ctx context.Context, f *apitype.FlowFilter, limit int) ([]uuid.UUID, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.Flow(f)
	if err != nil {
		return nil, err
	}
	q := `DELETE FROM flow WHERE id IN (SELECT id FROM flow WHERE ` + cond + ` ORDER BY name` + pageClause(w, limit, 0) + `) RETURNING id`
	ids := []uuid.UUID{}
	err = s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, w.Args...)
		if err != nil {
			return fmt.Errorf("delete flows: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("delete flows: %w", err)
			}
			u, err := uuid.Parse(id)
			if err != nil {
				return fmt.Errorf("delete flows: %w", err)
			}
			ids = append(ids, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// execOne runs a statement that must touch exactly one row.
func execOne(ctx context.Context, tx *sql.Tx, what, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, interpretError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return nil
}
