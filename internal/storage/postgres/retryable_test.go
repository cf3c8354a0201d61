package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
)

func TestMarkRetryable(t *testing.T) {
	for code, want := range map[string]bool{"40001": true, "40P01": true, "55P03": true, "23505": false, "42P01": false} {
		err := markRetryable(&pgconn.PgError{Code: code})
		require.Equal(t, want, errors.Is(err, storage.ErrRetryable), code)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "the driver error stays reachable")
	}
	require.NoError(t, markRetryable(nil))
}
