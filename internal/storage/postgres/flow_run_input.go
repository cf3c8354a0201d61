package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const flowRunInputColumns = `id, created, updated, flow_run_id, key, value, sender`

func scanFlowRunInput(r pgx.Row) (*apitype.FlowRunInput, error) {
	var in apitype.FlowRunInput
	if err := r.Scan(&in.ID, &in.Created, &in.Updated, &in.FlowRunID, &in.Key, &in.Value, &in.Sender); err != nil {
		return nil, interpretError(err)
	}
	in.Created, in.Updated = in.Created.UTC(), in.Updated.UTC()
	return &in, nil
}

func getFlowRunInput(ctx context.Context, q querier, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error) {
	in, err := scanFlowRunInput(q.QueryRow(ctx, `SELECT `+flowRunInputColumns+
		` FROM flow_run_input WHERE flow_run_id = $1 AND key = $2`, flowRunID, key))
	if err != nil {
		return nil, fmt.Errorf("get flow run input: %w", err)
	}
	return in, nil
}

// insertFlowRunInput reports a missing flow run as ErrNotFound (Prefect
// answers 404 to the foreign-key failure) and a taken key as ErrConflict.
// FOR SHARE keeps the run from vanishing before commit.
func insertFlowRunInput(ctx context.Context, tx pgx.Tx, in *apitype.FlowRunInput) error {
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM flow_run WHERE id = $1 FOR SHARE`, in.FlowRunID).Scan(&one); err != nil {
		return fmt.Errorf("insert flow run input: %w", interpretError(err))
	}
	_, err := tx.Exec(ctx, `INSERT INTO flow_run_input (`+flowRunInputColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		in.ID, storage.DBTime(in.Created), storage.DBTime(in.Updated), in.FlowRunID, in.Key, in.Value, in.Sender)
	if err != nil {
		return fmt.Errorf("insert flow run input: %w", interpretError(err))
	}
	return nil
}

// FlowRunInputCreate implements storage.FlowRunInputStore.
func (s *Store) FlowRunInputCreate(ctx context.Context, in *apitype.FlowRunInput) error {
	return s.write(ctx, func(tx pgx.Tx) error { return insertFlowRunInput(ctx, tx, in) })
}

// FlowRunInputGet implements storage.FlowRunInputStore.
func (s *Store) FlowRunInputGet(ctx context.Context, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error) {
	return getFlowRunInput(ctx, s.pool, flowRunID, key)
}

// FlowRunInputFilter implements storage.FlowRunInputStore. LIKE is
// case-sensitive here, as it is under Prefect on PostgreSQL.
func (s *Store) FlowRunInputFilter(ctx context.Context, p *storage.FlowRunInputFilterParams) ([]apitype.FlowRunInput, error) {
	exclude := p.ExcludeKeys
	if exclude == nil {
		exclude = []string{}
	}
	var limit any // NULL: no limit
	if p.Limit >= 0 {
		limit = p.Limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+flowRunInputColumns+` FROM flow_run_input
		WHERE flow_run_id = $1 AND key LIKE $2 || '%' AND key <> ALL($3::text[])
		ORDER BY created ASC, id ASC LIMIT $4`, p.FlowRunID, p.Prefix, exclude, limit)
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
	return execOne(ctx, s.pool, "delete flow run input",
		`DELETE FROM flow_run_input WHERE flow_run_id = $1 AND key = $2`, flowRunID, key)
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
	if _, err := t.tx.Exec(ctx, `DELETE FROM flow_run_input WHERE flow_run_id = $1 AND key = $2`, flowRunID, key); err != nil {
		return fmt.Errorf("delete flow run input: %w", interpretError(err))
	}
	return nil
}
