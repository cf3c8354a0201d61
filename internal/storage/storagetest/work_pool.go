package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func createWorkPool(t *testing.T, s storage.Store, name, typ string, n int) *apitype.WorkPool {
	t.Helper()
	p, err := s.WorkPoolCreate(context.Background(), &storage.WorkPoolCreateParams{
		ID: uuid.New(), DefaultQueueID: uuid.New(), Name: name, Type: typ,
		BaseJobTemplate: json.RawMessage(`{"job_configuration": {"b": 1, "a": 2}}`), Now: at(n),
	})
	require.NoError(t, err)
	return p
}

func createWorkQueue(t *testing.T, s storage.Store, pool, name string, prio *int64) *apitype.WorkQueue {
	t.Helper()
	q, err := s.WorkQueueCreate(context.Background(), &storage.WorkQueueCreateParams{
		ID: uuid.New(), PoolName: pool, Name: name, Priority: prio, Now: at(1),
	})
	require.NoError(t, err)
	return q
}

// queuePriorities maps queue name to priority for one pool.
func queuePriorities(t *testing.T, s storage.Store, pool string) map[string]int64 {
	t.Helper()
	qs, err := s.WorkQueueList(context.Background(), &storage.WorkQueueListParams{PoolName: pool, Now: at(1)})
	require.NoError(t, err)
	out := map[string]int64{}
	for _, q := range qs {
		out[q.Name] = q.Priority
	}
	return out
}

func testWorkPool(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()
	p64 := func(v int64) *int64 { return &v }

	t.Run("CreateWithDefaultQueue", func(t *testing.T) {
		s := open(t)
		p := createWorkPool(t, s, "pool", "process", 0)
		require.Equal(t, `{"job_configuration": {"b": 1, "a": 2}}`, string(p.BaseJobTemplate), "template kept verbatim")
		require.Equal(t, apitype.WorkPoolStatusNotReady, *p.Status)
		require.Equal(t, stored(at(0)), p.Created)
		require.NotNil(t, p.DefaultQueueID)
		q, err := s.WorkQueueGet(ctx, *p.DefaultQueueID, at(0))
		require.NoError(t, err)
		require.Equal(t, "default", q.Name)
		require.Equal(t, int64(1), q.Priority)
		require.Equal(t, "pool", q.WorkPoolName)
		require.Equal(t, p.ID, q.WorkPoolID)
		require.Equal(t, apitype.WorkQueueStatusNotReady, q.Status)

		_, err = s.WorkPoolCreate(ctx, &storage.WorkPoolCreateParams{ID: uuid.New(), DefaultQueueID: uuid.New(), Name: "pool", Type: "x", Now: at(1)})
		require.ErrorIs(t, err, storage.ErrConflict)
		n, err := s.WorkPoolCount(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, int64(1), n, "no half-written pool")

		agent := createWorkPool(t, s, "agent", apitype.WorkPoolTypeAgent, 0)
		require.Nil(t, agent.Status, "agent pools have no status")
	})

	t.Run("FilterUpdateDelete", func(t *testing.T) {
		s := open(t)
		a := createWorkPool(t, s, "b-pool", "process", 0)
		createWorkPool(t, s, "a-pool", "docker", 1)
		list, err := s.WorkPoolList(ctx, &storage.WorkPoolListParams{Now: at(2)})
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, "a-pool", list[0].Name, "ordered by name")
		list, err = s.WorkPoolList(ctx, &storage.WorkPoolListParams{Now: at(2),
			Filter: &apitype.WorkPoolFilter{Type: &apitype.FilterAnyNames{Any: []string{"process"}}}})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, a.ID, list[0].ID)
		n, err := s.WorkPoolCount(ctx, &apitype.WorkPoolFilter{Operator: apitype.OperatorOr,
			ID: &apitype.FilterIDAny{Any: []uuid.UUID{a.ID}}, Name: &apitype.FilterAnyNames{Any: []string{"a-pool"}}})
		require.NoError(t, err)
		require.Equal(t, int64(2), n)

		paused, desc := true, "d"
		require.NoError(t, s.WorkPoolUpdate(ctx, "b-pool", &apitype.WorkPoolUpdate{IsPaused: &paused,
			Description: &desc, DescriptionSet: true, ConcurrencyLimit: p64(3), ConcurrencyLimitSet: true}, at(3)))
		got, err := s.WorkPoolGetByName(ctx, "b-pool", at(3))
		require.NoError(t, err)
		require.Equal(t, apitype.WorkPoolStatusPaused, *got.Status)
		require.Equal(t, "d", *got.Description)
		require.Equal(t, int64(3), *got.ConcurrencyLimit)
		require.Equal(t, stored(at(3)), got.Updated)
		require.ErrorIs(t, s.WorkPoolUpdate(ctx, "missing", &apitype.WorkPoolUpdate{}, at(3)), storage.ErrNotFound)

		require.NoError(t, s.WorkPoolDelete(ctx, "b-pool"))
		_, err = s.WorkQueueGet(ctx, *a.DefaultQueueID, at(3))
		require.ErrorIs(t, err, storage.ErrNotFound, "queues go with the pool")
		require.ErrorIs(t, s.WorkPoolDelete(ctx, "b-pool"), storage.ErrNotFound)
	})

	t.Run("QueuePriorities", func(t *testing.T) {
		s := open(t)
		p := createWorkPool(t, s, "pool", "process", 0)
		createWorkQueue(t, s, "pool", "q2", nil)
		createWorkQueue(t, s, "pool", "q3", nil)
		require.Equal(t, map[string]int64{"default": 1, "q2": 2, "q3": 3}, queuePriorities(t, s, "pool"))
		// A given priority takes the rank and shifts the holders down.
		top := createWorkQueue(t, s, "pool", "top", p64(1))
		require.Equal(t, map[string]int64{"top": 1, "default": 2, "q2": 3, "q3": 4}, queuePriorities(t, s, "pool"))
		_, err := s.WorkQueueCreate(ctx, &storage.WorkQueueCreateParams{ID: uuid.New(), PoolName: "pool", Name: "q2", Now: at(1)})
		require.ErrorIs(t, err, storage.ErrConflict)
		_, err = s.WorkQueueCreate(ctx, &storage.WorkQueueCreateParams{ID: uuid.New(), PoolName: "nope", Name: "q", Now: at(1)})
		require.ErrorIs(t, err, storage.ErrNotFound)

		require.NoError(t, s.WorkQueueUpdate(ctx, top.ID, &apitype.WorkQueueUpdate{Priority: p64(3)}, at(2)))
		// Prefect's minimal-change walk: the vacated rank 1 stays free and the
		// holders of 3 and above move down one.
		require.Equal(t, map[string]int64{"default": 2, "top": 3, "q2": 4, "q3": 5}, queuePriorities(t, s, "pool"))

		require.ErrorIs(t, s.WorkQueueDelete(ctx, *p.DefaultQueueID), storage.ErrDefaultQueue)
		q2, err := s.WorkQueueGetByName(ctx, "pool", "q2", at(2))
		require.NoError(t, err)
		require.NoError(t, s.WorkQueueDelete(ctx, q2.ID))
		require.Equal(t, map[string]int64{"default": 2, "top": 3, "q3": 5}, queuePriorities(t, s, "pool"))
		// A new queue without a priority takes the first free rank.
		createWorkQueue(t, s, "pool", "fill", nil)
		require.Equal(t, int64(1), queuePriorities(t, s, "pool")["fill"])
		require.ErrorIs(t, s.WorkQueueDelete(ctx, q2.ID), storage.ErrNotFound)
	})

	t.Run("ConcurrentQueueCreatesGetDistinctPriorities", func(t *testing.T) {
		s := open(t)
		createWorkPool(t, s, "pool", "process", 0)
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := s.WorkQueueCreate(ctx, &storage.WorkQueueCreateParams{
					ID: uuid.New(), PoolName: "pool", Name: "q" + string(rune('a'+i)), Now: at(1)})
				errs <- err
			}()
		}
		for range n {
			err := <-errs
			if errors.Is(err, storage.ErrRetryable) {
				continue // PostgreSQL may abort one side; nothing was written
			}
			require.NoError(t, err)
		}
		seen := map[int64]bool{}
		for name, p := range queuePriorities(t, s, "pool") {
			require.False(t, seen[p], "priority %d taken twice (%s)", p, name)
			seen[p] = true
		}
	})

	t.Run("QueueFilterStatusUpdate", func(t *testing.T) {
		s := open(t)
		createWorkPool(t, s, "p1", "process", 0)
		createWorkPool(t, s, "p2", "process", 0)
		q := createWorkQueue(t, s, "p1", "Marvin-robot", nil)
		createWorkQueue(t, s, "p2", "sad-marvin", nil)
		list, err := s.WorkQueueList(ctx, &storage.WorkQueueListParams{Now: at(1),
			Filter: &apitype.WorkQueueFilter{Name: &apitype.WorkQueueFilterName{StartsWith: []string{"marvin"}}}})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, q.ID, list[0].ID)
		list, err = s.WorkQueueList(ctx, &storage.WorkQueueListParams{Now: at(1)})
		require.NoError(t, err)
		require.Len(t, list, 4, "every pool when PoolName is empty")

		polled := at(10)
		require.NoError(t, s.WorkQueueUpdate(ctx, q.ID, &apitype.WorkQueueUpdate{LastPolled: &polled}, at(10)))
		got, err := s.WorkQueueGet(ctx, q.ID, at(10).Add(59*time.Second))
		require.NoError(t, err)
		require.Equal(t, apitype.WorkQueueStatusReady, got.Status)
		got, err = s.WorkQueueGet(ctx, q.ID, at(10).Add(61*time.Second))
		require.NoError(t, err)
		require.Equal(t, apitype.WorkQueueStatusNotReady, got.Status)
		paused, name := true, "renamed"
		require.NoError(t, s.WorkQueueUpdate(ctx, q.ID, &apitype.WorkQueueUpdate{IsPaused: &paused, Name: &name}, at(11)))
		got, err = s.WorkQueueGetByName(ctx, "p1", "renamed", at(11))
		require.NoError(t, err)
		require.Equal(t, apitype.WorkQueueStatusPaused, got.Status)
		require.ErrorIs(t, s.WorkQueueUpdate(ctx, uuid.New(), &apitype.WorkQueueUpdate{IsPaused: &paused}, at(11)), storage.ErrNotFound)
	})

	t.Run("Workers", func(t *testing.T) {
		s := open(t)
		p := createWorkPool(t, s, "pool", "process", 0)
		beat := func(name string, interval *int64, n int) {
			require.NoError(t, s.WorkerHeartbeat(ctx, &storage.WorkerHeartbeatParams{
				ID: uuid.New(), PoolName: "pool", Name: name, HeartbeatIntervalSeconds: interval, Now: at(n)}))
		}
		beat("w1", p64(10), 0)
		beat("w2", nil, 5)
		require.ErrorIs(t, s.WorkerHeartbeat(ctx, &storage.WorkerHeartbeatParams{ID: uuid.New(), PoolName: "x", Name: "w", Now: at(0)}), storage.ErrNotFound)

		// w1 is online for 3×10s, w2 for 3×30s (the fallback interval).
		now := at(0).Add(35 * time.Second)
		ws, err := s.WorkerList(ctx, &storage.WorkerListParams{PoolName: "pool", Now: now})
		require.NoError(t, err)
		require.Len(t, ws, 2)
		require.Equal(t, "w2", ws[0].Name, "newest heartbeat first")
		require.Equal(t, apitype.WorkerStatusOnline, ws[0].Status)
		require.Nil(t, ws[0].HeartbeatIntervalSeconds)
		require.Equal(t, apitype.WorkerStatusOffline, ws[1].Status)
		require.Equal(t, p.ID, ws[1].WorkPoolID)

		online, err := s.WorkerList(ctx, &storage.WorkerListParams{PoolName: "pool", Now: now,
			Filter: &apitype.WorkerFilter{Status: &apitype.WorkerFilterStatusField{Any: []string{"ONLINE"}}}})
		require.NoError(t, err)
		require.Len(t, online, 1)
		require.Equal(t, "w2", online[0].Name)
		got, err := s.WorkPoolGetByName(ctx, "pool", now)
		require.NoError(t, err)
		require.Equal(t, apitype.WorkPoolStatusReady, *got.Status)
		got, err = s.WorkPoolGetByName(ctx, "pool", at(0).Add(200*time.Second))
		require.NoError(t, err)
		require.Equal(t, apitype.WorkPoolStatusNotReady, *got.Status)

		// A heartbeat without an interval keeps the one sent before.
		beat("w1", nil, 40)
		ws, err = s.WorkerList(ctx, &storage.WorkerListParams{PoolName: "pool", Now: at(40),
			Filter: &apitype.WorkerFilter{LastHeartbeatTime: &apitype.WorkerFilterHeartbeat{After: ptrTime(at(40))}}})
		require.NoError(t, err)
		require.Len(t, ws, 1)
		require.Equal(t, int64(10), *ws[0].HeartbeatIntervalSeconds)

		require.NoError(t, s.WorkerDelete(ctx, "pool", "w1"))
		require.ErrorIs(t, s.WorkerDelete(ctx, "pool", "w1"), storage.ErrNotFound)
	})
}

func ptrTime(t time.Time) *time.Time { return &t }
