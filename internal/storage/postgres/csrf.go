package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const csrfColumns = `id, created, updated, token, client, expiration`

func scanCSRFToken(r pgx.Row) (*apitype.CsrfToken, error) {
	var t apitype.CsrfToken
	if err := r.Scan(&t.ID, &t.Created, &t.Updated, &t.Token, &t.Client, &t.Expiration); err != nil {
		return nil, interpretError(err)
	}
	t.Created, t.Updated, t.Expiration = t.Created.UTC(), t.Updated.UTC(), t.Expiration.UTC()
	return &t, nil
}

// CSRFTokenUpsert implements storage.Store.
func (s *Store) CSRFTokenUpsert(ctx context.Context, p *storage.CSRFTokenUpsertParams) (*apitype.CsrfToken, error) {
	var out *apitype.CsrfToken
	err := s.write(ctx, func(tx pgx.Tx) error {
		now := storage.DBTime(p.Now)
		if _, err := tx.Exec(ctx, `DELETE FROM csrf_token WHERE expiration < $1`, now); err != nil {
			return fmt.Errorf("delete expired csrf tokens: %w", err)
		}
		t, err := scanCSRFToken(tx.QueryRow(ctx, `INSERT INTO csrf_token (`+csrfColumns+`) VALUES ($1, $2, $2, $3, $4, $5)
			ON CONFLICT (client) DO UPDATE SET token = excluded.token, expiration = excluded.expiration, updated = excluded.updated
			RETURNING `+csrfColumns, p.ID, now, p.Token, p.Client, storage.DBTime(p.Expiration)))
		if err != nil {
			return fmt.Errorf("upsert csrf token: %w", err)
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CSRFTokenGet implements storage.Store.
func (s *Store) CSRFTokenGet(ctx context.Context, client string, now time.Time) (*apitype.CsrfToken, error) {
	t, err := scanCSRFToken(s.pool.QueryRow(ctx,
		`SELECT `+csrfColumns+` FROM csrf_token WHERE client = $1 AND expiration > $2`, client, storage.DBTime(now)))
	if err != nil {
		return nil, fmt.Errorf("get csrf token: %w", err)
	}
	return t, nil
}
