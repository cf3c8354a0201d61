package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const flowRunInputColumns = `id, created, updated, flow_run_id, key, value, sender`

func scanFlowRunInput(r rowScanner) (*apitype.FlowRunInput, error) {
	var (
		in                          apitype.FlowRunInput
		id, created, updated, runID string
		sender                      sql.NullString
	)
	if err := r.Scan(&id, &created, &updated, &runID, &in.Key, &in.Value, &sender); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if in.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode flow run input id: %w", err)
	}
	if in.FlowRunID, err = uuid.Parse(runID); err != nil {
		return nil, fmt.Errorf("decode flow run input flow_run_id: %w", err)
	}
	if in.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if in.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	in.Sender = optString(sender)
	return &in, nil
}

func getFlowRunInput(ctx context.Context, q queryer, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error) {
	in, err := scanFlowRunInput(q.QueryRowContext(ctx, `SELECT `+flowRunInputColumns+
		` FROM flow_run_input WHERE flow_run_id = ? AND key = ?`, flowRunID.String(), key))
	if err != nil {
		return nil, fmt.Errorf("get flow run input: %w", err)
	}
	return in, nil
}

// insertFlowRunInput reports a missing flow run as ErrNotFound (Prefect
// answers 404 to the foreign-key failure) and a taken key as ErrConflict.
func insertFlowRunInput(ctx context.Context, tx *sql.Tx, in *apitype.FlowRunInput) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM flow_run WHERE id = ?`, in.FlowRunID.String()).Scan(&one)
	if err != nil {
		return fmt.Errorf("insert flow run input: %w", interpretError(err))
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO flow_run_input (`+flowRunInputColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		in.ID.String(), encodeTime(in.Created), encodeTime(in.Updated), in.FlowRunID.String(), in.Key, in.Value, in.Sender)
	if err != nil {
		return fmt.Errorf("insert flow run input: %w", interpretError(err))
	}
	return nil
}

// FlowRunInputCreate implements storage.FlowRunInputStore.
func (s *Store) FlowRunInputCreate(ctx context.Context, in *apitype.FlowRunInput) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertFlowRunInput(ctx, tx, in) })
}

// FlowRunInputGet implements storage.FlowRunInputStore.
func (s *Store) FlowRunInputGet(ctx context.Context, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error) {
	return getFlowRunInput(ctx, s.reader, flowRunID, key)
}

// FlowRunInputFilter implements storage.FlowRunInputStore. SQLite's LIKE is
// case-insensitive for ASCII, as it is under Prefect on SQLite.
func (s *Store) FlowRunInputFilter(ctx context.Context, p *storage.FlowRunInputFilterParams) ([]apitype.FlowRunInput, error) {
	exclude := p.ExcludeKeys
	if exclude == nil {
		exclude = []string{}
	}
	limit := p.Limit
	if limit < 0 {
		limit = -1
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+flowRunInputColumns+` FROM flow_run_input
		WHERE flow_run_id = ? AND key LIKE ? || '%' AND key NOT IN (SELECT value FROM json_each(?))
		ORDER BY created ASC, id ASC LIMIT ?`, p.FlowRunID.String(), p.Prefix, storage.JSONList(exclude), limit)
	if err != nil {
		return nil, fmt.Errorf("filter flow run inputs: %w", err)
	}
	defer rows.Close()
	out := []apitype.FlowRunInput{}
	for rows.Next() {
		in, err := scanFlowRunInput(rows)
		if err != nil {
			return nil, fmt.Errorf("filter flow run inputs: %w", err)
		}
		out = append(out, *in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("filter flow run inputs: %w", err)
	}
	return out, nil
}

// FlowRunInputDelete implements storage.FlowRunInputStore.
func (s *Store) FlowRunInputDelete(ctx context.Context, flowRunID uuid.UUID, key string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, "delete flow run input",
			`DELETE FROM flow_run_input WHERE flow_run_id = ? AND key = ?`, flowRunID.String(), key)
	})
}

var _ storage.FlowRunInputTx = (*runTx)(nil)

// FlowRunInput implements storage.FlowRunInputTx.
func (t *runTx) FlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error) {
	return getFlowRunInput(ctx, t.tx, flowRunID, key)
}

// CreateFlowRunInput implements storage.FlowRunInputTx.
func (t *runTx) CreateFlowRunInput(ctx context.Context, in *apitype.FlowRunInput) error {
	return insertFlowRunInput(ctx, t.tx, in)
}

// DeleteFlowRunInput implements storage.FlowRunInputTx.
func (t *runTx) DeleteFlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM flow_run_input WHERE flow_run_id = ? AND key = ?`,
		flowRunID.String(), key); err != nil {
		return fmt.Errorf("delete flow run input: %w", interpretError(err))
	}
	return nil
}
