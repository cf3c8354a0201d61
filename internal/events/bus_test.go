package events

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func recv(t *testing.T, s Subscription) apitype.ReceivedEvent {
	t.Helper()
	select {
	case e, ok := <-s.Events():
		require.True(t, ok, "subscription closed: %v", s.Err())
		return e
	default:
		t.Fatal("no event buffered")
	}
	return apitype.ReceivedEvent{}
}

func TestBusFanOutAndFilter(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBus()
	all, err := b.Subscribe(ctx, SubscribeOptions{})
	require.NoError(t, err)
	flows, err := b.Subscribe(ctx, SubscribeOptions{Filter: &apitype.EventFilter{Event: &apitype.EventNameFilter{Prefix: []string{"prefect.flow-run."}}}})
	require.NoError(t, err)

	e1, e2 := testEvent("prefect.flow-run.Running", "a"), testEvent("prefect.task-run.Running", "b")
	require.NoError(t, b.Publish(ctx, []apitype.ReceivedEvent{e1, e2}))
	require.Equal(t, e1.ID, recv(t, all).ID)
	require.Equal(t, e2.ID, recv(t, all).ID)
	require.Equal(t, e1.ID, recv(t, flows).ID)
	require.Empty(t, flows.Events())

	flows.Close()
	flows.Close() // idempotent
	_, open := <-flows.Events()
	require.False(t, open)
	require.NoError(t, flows.Err())
	require.Equal(t, 1, b.Subscribers())
}

func TestBusSlowStreamSubscriberIsDropped(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBus()
	slow, err := b.Subscribe(ctx, SubscribeOptions{Buffer: 2})
	require.NoError(t, err)
	fast, err := b.Subscribe(ctx, SubscribeOptions{Buffer: 10})
	require.NoError(t, err)
	batch := []apitype.ReceivedEvent{testEvent("e", "1"), testEvent("e", "2"), testEvent("e", "3")}
	// The publisher is never blocked by the slow stream subscriber.
	require.NoError(t, b.Publish(ctx, batch))
	require.Equal(t, batch[0].ID, recv(t, slow).ID)
	require.Equal(t, batch[1].ID, recv(t, slow).ID)
	_, open := <-slow.Events()
	require.False(t, open, "a full stream subscription is closed, not skipped")
	require.ErrorIs(t, slow.Err(), ErrSlowSubscriber)
	for i := range batch {
		require.Equal(t, batch[i].ID, recv(t, fast).ID)
	}
	require.Equal(t, 1, b.Subscribers())
}

func TestBusDurableSubscriberBackpressure(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBus()
	d, err := b.Subscribe(ctx, SubscribeOptions{Buffer: 1, Durable: true})
	require.NoError(t, err)
	batch := []apitype.ReceivedEvent{testEvent("e", "1"), testEvent("e", "2"), testEvent("e", "3")}
	published := make(chan error, 1)
	go func() { published <- b.Publish(ctx, batch) }()
	// Every event arrives, in order, however slowly the consumer reads.
	for i := range batch {
		e := <-d.Events()
		require.Equal(t, batch[i].ID, e.ID)
	}
	require.NoError(t, <-published)

	// A publisher waiting on a full durable subscription honours its context.
	require.NoError(t, b.Publish(ctx, batch[:1]))
	cctx, cancel := context.WithCancel(ctx)
	go func() { published <- b.Publish(cctx, batch[1:2]) }()
	cancel()
	require.ErrorIs(t, <-published, context.Canceled)

	// Closing the subscription releases a waiting publisher.
	go func() { published <- b.Publish(ctx, batch[1:2]) }()
	d.Close()
	require.NoError(t, <-published)
}

func TestBusSubscriptionEndsWithContextAndBus(t *testing.T) {
	b := NewMemoryBus()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := b.Subscribe(ctx, SubscribeOptions{})
	require.NoError(t, err)
	cancel()
	_, open := <-s.Events()
	require.False(t, open)
	require.ErrorIs(t, s.Err(), context.Canceled)

	s2, err := b.Subscribe(context.Background(), SubscribeOptions{})
	require.NoError(t, err)
	b.Close()
	_, open = <-s2.Events()
	require.False(t, open)
	require.ErrorIs(t, s2.Err(), ErrBusClosed)
	require.ErrorIs(t, b.Publish(context.Background(), nil), ErrBusClosed)
	_, err = b.Subscribe(context.Background(), SubscribeOptions{})
	require.ErrorIs(t, err, ErrBusClosed)
}
