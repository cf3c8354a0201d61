package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/api"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/storage/pgtest"
	"github.com/warden-orchestration/warden/internal/storage/storagetest"
)

// TestWorkPoolPollRace runs issue 4's worker race through the real API on
// PostgreSQL, where the claims run in parallel transactions (the API's own
// tests run it on SQLite).
func TestWorkPoolPollRace(t *testing.T) {
	s := openMigrated(t, pgtest.URL(t))
	ev, err := events.Start(s, events.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ev.Close(context.Background())) })
	h, err := api.NewHandler(api.Deps{Store: s, Events: ev})
	require.NoError(t, err)
	storagetest.PollRace(t, s, h)
}
