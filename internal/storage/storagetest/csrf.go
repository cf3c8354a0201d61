package storagetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
)

func testCSRFToken(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("UpsertKeepsCreated", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		first, err := s.CSRFTokenUpsert(ctx, &storage.CSRFTokenUpsertParams{
			ID: id, Client: "browser", Token: "tok1", Expiration: at(3600), Now: at(0),
		})
		require.NoError(t, err)
		require.Equal(t, id, first.ID)
		require.Equal(t, "tok1", first.Token)
		require.Equal(t, "browser", first.Client)
		require.Equal(t, stored(at(0)), first.Created)
		require.Equal(t, stored(at(0)), first.Updated)
		require.Equal(t, stored(at(3600)), first.Expiration)

		second, err := s.CSRFTokenUpsert(ctx, &storage.CSRFTokenUpsertParams{
			ID: uuid.New(), Client: "browser", Token: "tok2", Expiration: at(7200), Now: at(60),
		})
		require.NoError(t, err)
		require.Equal(t, id, second.ID, "the existing row is updated in place")
		require.Equal(t, "tok2", second.Token)
		require.Equal(t, stored(at(0)), second.Created)
		require.Equal(t, stored(at(60)), second.Updated)
		require.Equal(t, stored(at(7200)), second.Expiration)

		got, err := s.CSRFTokenGet(ctx, "browser", at(100))
		require.NoError(t, err)
		require.Equal(t, second, got)
	})

	t.Run("GetHonoursExpiration", func(t *testing.T) {
		s := open(t)
		_, err := s.CSRFTokenUpsert(ctx, &storage.CSRFTokenUpsertParams{
			ID: uuid.New(), Client: "c", Token: "t", Expiration: at(10), Now: at(0),
		})
		require.NoError(t, err)
		_, err = s.CSRFTokenGet(ctx, "c", at(9))
		require.NoError(t, err)
		_, err = s.CSRFTokenGet(ctx, "c", at(10))
		require.ErrorIs(t, err, storage.ErrNotFound, "a token expiring now is no longer valid")
		_, err = s.CSRFTokenGet(ctx, "other", at(0))
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("UpsertDeletesExpired", func(t *testing.T) {
		s := open(t)
		for _, c := range []struct {
			client string
			exp    time.Time
		}{{"old", at(5)}, {"edge", at(20)}, {"fresh", at(100)}} {
			_, err := s.CSRFTokenUpsert(ctx, &storage.CSRFTokenUpsertParams{
				ID: uuid.New(), Client: c.client, Token: "t-" + c.client, Expiration: c.exp, Now: at(0),
			})
			require.NoError(t, err)
		}
		// At t=20, "old" expired (5 < 20); "edge" expires exactly now and is kept
		// by the cleanup (expiration < now only).
		_, err := s.CSRFTokenUpsert(ctx, &storage.CSRFTokenUpsertParams{
			ID: uuid.New(), Client: "new", Token: "t-new", Expiration: at(3600), Now: at(20),
		})
		require.NoError(t, err)
		// Look at rows with a clock before every expiration, so only deletion
		// (not the expiry check) can hide a row.
		_, err = s.CSRFTokenGet(ctx, "old", at(0))
		require.ErrorIs(t, err, storage.ErrNotFound)
		for _, c := range []string{"edge", "fresh", "new"} {
			_, err := s.CSRFTokenGet(ctx, c, at(0))
			require.NoError(t, err, c)
		}
	})
}

func testConfiguration(t *testing.T, s storage.Store) {
	ctx := context.Background()
	_, err := s.ConfigurationGet(ctx, "telemetry")
	require.ErrorIs(t, err, storage.ErrNotFound)

	require.NoError(t, s.ConfigurationSet(ctx, "telemetry", json.RawMessage(`{"session_id": "abc", "n": 1}`), at(0)))
	got, err := s.ConfigurationGet(ctx, "telemetry")
	require.NoError(t, err)
	require.Equal(t, `{"session_id": "abc", "n": 1}`, string(got))

	require.NoError(t, s.ConfigurationSet(ctx, "telemetry", json.RawMessage(`[1,2]`), at(1)))
	require.NoError(t, s.ConfigurationSet(ctx, "other", json.RawMessage(`"x"`), at(1)))
	got, err = s.ConfigurationGet(ctx, "telemetry")
	require.NoError(t, err)
	require.Equal(t, `[1,2]`, string(got))

	require.NoError(t, s.ConfigurationDelete(ctx, "telemetry"))
	_, err = s.ConfigurationGet(ctx, "telemetry")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.ConfigurationDelete(ctx, "telemetry"), "deleting a missing key is a no-op")
	got, err = s.ConfigurationGet(ctx, "other")
	require.NoError(t, err)
	require.Equal(t, `"x"`, string(got))
}
