package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const variableColumns = `id, created, updated, name, value, tags`

func scanVariable(r pgx.Row) (*apitype.Variable, error) {
	var (
		v     apitype.Variable
		value string
		tags  string
	)
	if err := r.Scan(&v.ID, &v.Created, &v.Updated, &v.Name, &value, &tags); err != nil {
		return nil, interpretError(err)
	}
	v.Created, v.Updated = v.Created.UTC(), v.Updated.UTC()
	v.Value = json.RawMessage(value)
	var err error
	if v.Tags, err = decodeTags(tags); err != nil {
		return nil, err
	}
	return &v, nil
}

// encodeValue keeps the JSON text as given (the column is json, not jsonb,
// so Postgres stores it verbatim); a missing value is JSON null.
func encodeValue(v json.RawMessage) (string, error) {
	if len(v) == 0 {
		return "null", nil
	}
	if !json.Valid(v) {
		return "", errors.New("encode value: invalid JSON")
	}
	return string(v), nil
}

func getVariable(ctx context.Context, q querier, where string, arg any) (*apitype.Variable, error) {
	v, err := scanVariable(q.QueryRow(ctx, `SELECT `+variableColumns+` FROM variable WHERE `+where, arg))
	if err != nil {
		return nil, fmt.Errorf("get variable: %w", err)
	}
	return v, nil
}

// VariableCreate implements storage.Store.
func (s *Store) VariableCreate(ctx context.Context, p *storage.VariableCreateParams) (*apitype.Variable, error) {
	value, err := encodeValue(p.Value)
	if err != nil {
		return nil, err
	}
	v, err := scanVariable(s.pool.QueryRow(ctx, `INSERT INTO variable (`+variableColumns+`)
		VALUES ($1, $2, $2, $3, $4::json, $5::jsonb) RETURNING `+variableColumns,
		p.ID, storage.DBTime(p.Now), p.Name, value, storage.JSONList(p.Tags)))
	if err != nil {
		return nil, fmt.Errorf("insert variable: %w", err)
	}
	return v, nil
}

// VariableGet implements storage.Store.
func (s *Store) VariableGet(ctx context.Context, id uuid.UUID) (*apitype.Variable, error) {
	return getVariable(ctx, s.pool, `id = $1`, id)
}

// VariableGetByName implements storage.Store.
func (s *Store) VariableGetByName(ctx context.Context, name string) (*apitype.Variable, error) {
	return getVariable(ctx, s.pool, `name = $1`, name)
}

// VariableList implements storage.Store. Limit <= 0 means no limit.
func (s *Store) VariableList(ctx context.Context, p *storage.VariableListParams) ([]apitype.Variable, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.Variable(p.Filter)
	if err != nil {
		return nil, err
	}
	order, err := storage.VariableOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+variableColumns+` FROM variable WHERE `+cond+` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.Variable, error) {
		v, err := scanVariable(r)
		if err != nil {
			return apitype.Variable{}, err
		}
		return *v, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	if out == nil {
		out = []apitype.Variable{}
	}
	return out, nil
}

// VariableCount implements storage.Store.
func (s *Store) VariableCount(ctx context.Context, f *apitype.VariableFilter) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.Variable(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM variable WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count variables: %w", err)
	}
	return n, nil
}

func (s *Store) variableUpdate(ctx context.Context, where string, key any, p *apitype.VariableUpdate, now time.Time) error {
	sets := []string{"updated = $1"}
	args := []any{storage.DBTime(now)}
	if p.Name != nil {
		args = append(args, *p.Name)
		sets = append(sets, fmt.Sprintf("name = $%d", len(args)))
	}
	if p.Value != nil {
		value, err := encodeValue(*p.Value)
		if err != nil {
			return err
		}
		args = append(args, value)
		sets = append(sets, fmt.Sprintf("value = $%d::json", len(args)))
	}
	if p.Tags != nil {
		args = append(args, storage.JSONList(*p.Tags))
		sets = append(sets, fmt.Sprintf("tags = $%d::jsonb", len(args)))
	}
	args = append(args, key)
	return execOne(ctx, s.pool, "update variable",
		`UPDATE variable SET `+strings.Join(sets, ", ")+` WHERE `+fmt.Sprintf(where, len(args)), args...)
}

// VariableUpdate implements storage.Store.
func (s *Store) VariableUpdate(ctx context.Context, id uuid.UUID, p *apitype.VariableUpdate, now time.Time) error {
	return s.variableUpdate(ctx, `id = $%d`, id, p, now)
}

// VariableUpdateByName implements storage.Store.
func (s *Store) VariableUpdateByName(ctx context.Context, name string, p *apitype.VariableUpdate, now time.Time) error {
	return s.variableUpdate(ctx, `name = $%d`, name, p, now)
}

// VariableDelete implements storage.Store.
func (s *Store) VariableDelete(ctx context.Context, id uuid.UUID) error {
	return execOne(ctx, s.pool, "delete variable", `DELETE FROM variable WHERE id = $1`, id)
}

// VariableDeleteByName implements storage.Store.
func (s *Store) VariableDeleteByName(ctx context.Context, name string) error {
	return execOne(ctx, s.pool, "delete variable", `DELETE FROM variable WHERE name = $1`, name)
}
