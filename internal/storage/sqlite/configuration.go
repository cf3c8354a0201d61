package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ConfigurationGet implements storage.Store.
func (s *Store) ConfigurationGet(ctx context.Context, key string) (json.RawMessage, error) {
	var value string
	if err := s.reader.QueryRowContext(ctx, `SELECT value FROM configuration WHERE key = ?`, key).Scan(&value); err != nil {
		return nil, fmt.Errorf("get configuration: %w", interpretError(err))
	}
	return json.RawMessage(value), nil
}

// ConfigurationSet implements storage.Store.
func (s *Store) ConfigurationSet(ctx context.Context, key string, value json.RawMessage, now time.Time) error {
	v, err := encodeValue(value)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		ts := encodeTime(now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO configuration (id, created, updated, key, value) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
			uuid.NewString(), ts, ts, key, v); err != nil {
			return fmt.Errorf("set configuration: %w", interpretError(err))
		}
		return nil
	})
}

// ConfigurationDelete implements storage.Store. Deleting a missing key is not an error.
func (s *Store) ConfigurationDelete(ctx context.Context, key string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM configuration WHERE key = ?`, key); err != nil {
			return fmt.Errorf("delete configuration: %w", err)
		}
		return nil
	})
}
