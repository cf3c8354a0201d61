package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/internal/storage"
)

// ConfigurationGet implements storage.Store.
func (s *Store) ConfigurationGet(ctx context.Context, key string) (json.RawMessage, error) {
	var value string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM configuration WHERE key = $1`, key).Scan(&value); err != nil {
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
	if _, err := s.pool.Exec(ctx, `INSERT INTO configuration (id, created, updated, key, value) VALUES ($1, $2, $2, $3, $4::json)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
		uuid.New(), storage.DBTime(now), key, v); err != nil {
		return fmt.Errorf("set configuration: %w", interpretError(err))
	}
	return nil
}

// ConfigurationDelete implements storage.Store. Deleting a missing key is not an error.
func (s *Store) ConfigurationDelete(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM configuration WHERE key = $1`, key); err != nil {
		return fmt.Errorf("delete configuration: %w", err)
	}
	return nil
}
