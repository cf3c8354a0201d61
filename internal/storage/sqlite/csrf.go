package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func scanCSRFToken(r rowScanner) (*apitype.CsrfToken, error) {
	var (
		t                                apitype.CsrfToken
		id, created, updated, expiration string
	)
	if err := r.Scan(&id, &created, &updated, &t.Token, &t.Client, &expiration); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if t.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode csrf token id: %w", err)
	}
	if t.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if t.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if t.Expiration, err = decodeTime(expiration); err != nil {
		return nil, err
	}
	return &t, nil
}

const csrfColumns = `id, created, updated, token, client, expiration`

// CSRFTokenUpsert implements storage.Store.
func (s *Store) CSRFTokenUpsert(ctx context.Context, p *storage.CSRFTokenUpsertParams) (*apitype.CsrfToken, error) {
	var out *apitype.CsrfToken
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := encodeTime(p.Now)
		if _, err := tx.ExecContext(ctx, `DELETE FROM csrf_token WHERE expiration < ?`, now); err != nil {
			return fmt.Errorf("delete expired csrf tokens: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO csrf_token (`+csrfColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (client) DO UPDATE SET token = excluded.token, expiration = excluded.expiration, updated = excluded.updated`,
			p.ID.String(), now, now, p.Token, p.Client, encodeTime(p.Expiration)); err != nil {
			return fmt.Errorf("upsert csrf token: %w", interpretError(err))
		}
		t, err := scanCSRFToken(tx.QueryRowContext(ctx, `SELECT `+csrfColumns+` FROM csrf_token WHERE client = ?`, p.Client))
		if err != nil {
			return fmt.Errorf("get csrf token: %w", err)
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
	t, err := scanCSRFToken(s.reader.QueryRowContext(ctx,
		`SELECT `+csrfColumns+` FROM csrf_token WHERE client = ? AND expiration > ?`, client, encodeTime(now)))
	if err != nil {
		return nil, fmt.Errorf("get csrf token: %w", err)
	}
	return t, nil
}
