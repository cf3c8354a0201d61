package events

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "warden.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.Migrate(ctx, time.Now())
	require.NoError(t, err)
	return st
}

// countingStore records the size of every batch written.
type countingStore struct {
	storage.EventStore
	mu      sync.Mutex
	batches []int
}

func (c *countingStore) EventInsert(ctx context.Context, es []apitype.ReceivedEvent, now time.Time) (int, error) {
	c.mu.Lock()
	c.batches = append(c.batches, len(es))
	c.mu.Unlock()
	return c.EventStore.EventInsert(ctx, es, now)
}

func (c *countingStore) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

func TestServicePersistsInBatchesIdempotently(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cs := &countingStore{EventStore: st}
	// A flush interval longer than the test: only size and Flush trigger writes.
	svc, err := Start(cs, Options{Persister: PersisterOptions{BatchSize: 4, FlushInterval: time.Hour}})
	require.NoError(t, err)

	var batch []apitype.ReceivedEvent
	for range 10 {
		batch = append(batch, testEvent("e", "r"))
	}
	require.NoError(t, svc.Bus().Publish(ctx, batch))
	// Redelivery (a client resending after reconnect) is absorbed.
	require.NoError(t, svc.Bus().Publish(ctx, batch[:3]))
	require.NoError(t, svc.Flush(ctx))

	n, err := st.EventCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 10, n)
	sizes := cs.sizes()
	total := 0
	for _, s := range sizes {
		require.LessOrEqual(t, s, 4)
		total += s
	}
	require.Equal(t, 13, total)
	require.Less(t, len(sizes), 13, "events are written in batches, not one by one")

	// Close writes what is still buffered.
	late := testEvent("late", "r")
	require.NoError(t, svc.Bus().Publish(ctx, []apitype.ReceivedEvent{late}))
	require.NoError(t, svc.Close(ctx))
	n, err = st.EventCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 11, n)
	require.ErrorIs(t, svc.Bus().Publish(ctx, batch), ErrBusClosed)
	require.NoError(t, svc.Flush(ctx), "flush after close is a no-op")
}

func TestPersisterFlushesOnInterval(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cs := &countingStore{EventStore: st}
	b := NewMemoryBus()
	sub, err := b.Subscribe(ctx, SubscribeOptions{Durable: true})
	require.NoError(t, err)
	p := NewPersister(cs, PersisterOptions{BatchSize: 1000, FlushInterval: time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, sub) }()
	require.NoError(t, b.Publish(ctx, []apitype.ReceivedEvent{testEvent("e", "r")}))
	// The timer, not the batch size, writes this one; wait for it to land.
	require.Eventually(t, func() bool { return len(cs.sizes()) == 1 }, 5*time.Second, time.Millisecond)
	sub.Close()
	require.NoError(t, <-done)
	n, err := st.EventCount(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}
