package service

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "warden.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	return s
}

// pinnedClock is a settable clock for Base.Now. With a step, each reading
// advances it, as real time does between two transitions of one pass (two
// states of a run never share a timestamp).
type pinnedClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *pinnedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}
func (c *pinnedClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func TestLeaseExpiryRunOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := st.ConcurrencyLimitV2Create(ctx, &storage.ConcurrencyLimitV2CreateParams{ID: uuid.New(), Name: "l", Limit: 10, Active: true, Now: t0})
	require.NoError(t, err)
	// Five leases expire at t0+60s, one at t0+600s.
	for i := range 6 {
		exp := t0.Add(60 * time.Second)
		if i == 5 {
			exp = t0.Add(600 * time.Second)
		}
		res, err := st.ConcurrencySlotsIncrement(ctx, &storage.ConcurrencyIncrementParams{
			Names: []string{"l"}, Slots: 1, Now: t0, Lease: &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: exp},
		})
		require.NoError(t, err)
		require.True(t, res.LeaseCreated)
	}
	clock := &pinnedClock{t: t0.Add(30 * time.Second)}
	// A batch of 2 forces several batches in one iteration.
	svc := NewLeaseExpiry(st, LeaseExpiryConfig{BatchSize: 2}, Base{Now: clock.Now})

	res, err := svc.runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, res.released, "nothing expired yet")

	clock.Set(t0.Add(61 * time.Second))
	res, err = svc.runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 5, res.released)
	l, err := st.ConcurrencyLimitV2Get(ctx, storage.LimitKey{Name: "l"}, clock.Now())
	require.NoError(t, err)
	require.Equal(t, 1, l.ActiveSlots, "the unexpired lease keeps its slot")

	res, err = svc.runOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, res.released, "released leases are gone")
}

type failingStore struct{}

func (failingStore) ConcurrencyLeasesExpire(context.Context, time.Time, int, storage.ConcurrencyWaits) (int, error) {
	return 0, errors.New("db down")
}

func TestLeaseExpiryRunOnceReportsErrors(t *testing.T) {
	t.Parallel()
	_, err := NewLeaseExpiry(failingStore{}, LeaseExpiryConfig{}, Base{}).runOnce(context.Background())
	require.ErrorContains(t, err, "db down")
}

// stubService records that it ran and returns err when stopped.
type stubService struct {
	started chan struct{}
	err     error
}

func (s *stubService) Name() string    { return "stub" }
func (s *stubService) Singleton() bool { return false }
func (s *stubService) Run(ctx context.Context) error {
	close(s.started)
	<-ctx.Done()
	return s.err
}

func TestRunnerStopsServicesWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	a := &stubService{started: make(chan struct{})}
	b := &stubService{started: make(chan struct{}), err: errors.New("boom")}
	done := make(chan error, 1)
	go func() { done <- (&Runner{}).Run(ctx, a, b) }()
	<-a.started
	<-b.started
	cancel()
	err := <-done
	require.ErrorContains(t, err, "boom", "failures are reported")
}

func TestLeaseExpiryRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 1)
	svc := NewLeaseExpiry(countingStore{calls: calls}, LeaseExpiryConfig{Interval: time.Hour}, Base{})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-calls // the first iteration runs immediately
	cancel()
	require.NoError(t, <-done)
}

type countingStore struct{ calls chan struct{} }

func (c countingStore) ConcurrencyLeasesExpire(context.Context, time.Time, int, storage.ConcurrencyWaits) (int, error) {
	select {
	case c.calls <- struct{}{}:
	default:
	}
	return 0, nil
}
