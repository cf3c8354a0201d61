package api

import (
	"testing"

	"github.com/warden-orchestration/warden/internal/storage/storagetest"
)

// TestWorkPoolPollRace: two (four) workers polling one pool never both
// move a run to PENDING, on SQLite; the Postgres engine tests run the same
// scenario (storage/postgres/work_poll_race_test.go).
func TestWorkPoolPollRace(t *testing.T) {
	ts := newTestServer(t, nil)
	storagetest.PollRace(t, ts.store, ts.handler)
}
