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

const variableColumns = `id, created, updated, name, value, tags`

func scanVariable(r rowScanner) (*apitype.Variable, error) {
	var (
		v                         apitype.Variable
		id, created, updated, tag string
		value                     string
	)
	if err := r.Scan(&id, &created, &updated, &v.Name, &value, &tag); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if v.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode variable id: %w", err)
	}
	if v.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if v.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if v.Tags, err = decodeTags(tag); err != nil {
		return nil, err
	}
	v.Value = json.RawMessage(value)
	return &v, nil
}

// encodeValue keeps the JSON text as given; a missing value is JSON null.
func encodeValue(v json.RawMessage) (string, error) {
	if len(v) == 0 {
		return "null", nil
	}
	if !json.Valid(v) {
		return "", fmt.Errorf("encode value: invalid JSON")
	}
	return string(v), nil
}

func getVariable(ctx context.Context, q queryer, where string, arg any) (*apitype.Variable, error) {
	v, err := scanVariable(q.QueryRowContext(ctx, `SELECT `+variableColumns+` FROM variable WHERE `+where, arg))
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
	var out *apitype.Variable
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(p.Now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO variable (`+variableColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID.String(), now, now, p.Name, value, encodeTags(p.Tags)); err != nil {
			return fmt.Errorf("insert variable: %w", interpretError(err))
		}
		out, err = getVariable(ctx, tx, `id = ?`, p.ID.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VariableGet implements storage.Store.
func (s *Store) VariableGet(ctx context.Context, id uuid.UUID) (*apitype.Variable, error) {
	return getVariable(ctx, s.reader, `id = ?`, id.String())
}

// VariableGetByName implements storage.Store.
func (s *Store) VariableGetByName(ctx context.Context, name string) (*apitype.Variable, error) {
	return getVariable(ctx, s.reader, `name = ?`, name)
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
	q := `SELECT ` + variableColumns + ` FROM variable WHERE ` + cond + ` ORDER BY ` + order + pageClause(w, p.Limit, p.Offset)
	rows, err := s.reader.QueryContext(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	defer rows.Close()
	out := []apitype.Variable{}
	for rows.Next() {
		v, err := scanVariable(rows)
		if err != nil {
			return nil, fmt.Errorf("list variables: %w", err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
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
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM variable WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count variables: %w", err)
	}
	return n, nil
}

func (s *Store) variableUpdate(ctx context.Context, where string, key any, p *apitype.VariableUpdate, now time.Time) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(now)}
	if p.Name != nil {
		sets = append(sets, "name = ?")
		args = append(args, *p.Name)
	}
	if p.Value != nil {
		value, err := encodeValue(*p.Value)
		if err != nil {
			return err
		}
		sets = append(sets, "value = ?")
		args = append(args, value)
	}
	if p.Tags != nil {
		sets = append(sets, "tags = ?")
		args = append(args, encodeTags(*p.Tags))
	}
	args = append(args, key)
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "update variable", `UPDATE variable SET `+strings.Join(sets, ", ")+` WHERE `+where, args...)
	})
}

// VariableUpdate implements storage.Store.
func (s *Store) VariableUpdate(ctx context.Context, id uuid.UUID, p *apitype.VariableUpdate, now time.Time) error {
	return s.variableUpdate(ctx, `id = ?`, id.String(), p, now)
}

// VariableUpdateByName implements storage.Store.
func (s *Store) VariableUpdateByName(ctx context.Context, name string, p *apitype.VariableUpdate, now time.Time) error {
	return s.variableUpdate(ctx, `name = ?`, name, p, now)
}

// VariableDelete implements storage.Store.
func (s *Store) VariableDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete variable", `DELETE FROM variable WHERE id = ?`, id.String())
	})
}

// VariableDeleteByName implements storage.Store.
func (s *Store) VariableDeleteByName(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete variable", `DELETE FROM variable WHERE name = ?`, name)
	})
}
