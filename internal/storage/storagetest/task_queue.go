package storagetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// testTaskQueue checks the backfill query of the task-worker queue: only
// runs of the key whose current state is a deferred SCHEDULED one, oldest
// state first, bounded by limit.
func testTaskQueue(t *testing.T, open func(t *testing.T) storage.Store) {
	s := open(t)
	ctx := context.Background()
	deferred := func(n int) *apitype.State {
		st := newState(apitype.StateTypeScheduled, "Scheduled", at(n))
		st.StateDetails.Deferred = true
		return st
	}
	newer := createDeferrable(t, s, "newer", "k")
	setTaskRunState(t, s, newer.ID, deferred(20), nil, nil)
	older := createDeferrable(t, s, "older", "k")
	setTaskRunState(t, s, older.ID, deferred(10), nil, nil)
	plain := createDeferrable(t, s, "not-deferred", "k")
	setTaskRunState(t, s, plain.ID, newState(apitype.StateTypeScheduled, "Scheduled", at(5)), nil, nil)
	started := createDeferrable(t, s, "started", "k")
	setTaskRunState(t, s, started.ID, deferred(1), nil, nil)
	setTaskRunState(t, s, started.ID, newState(apitype.StateTypePending, "Pending", at(2)), nil, nil)
	createDeferrable(t, s, "no-state", "k")
	other := createDeferrable(t, s, "other", "other-key")
	setTaskRunState(t, s, other.ID, deferred(0), nil, nil)

	got, err := s.ScheduledDeferredTaskRuns(ctx, "k", 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{older.ID, newer.ID}, got)

	got, err = s.ScheduledDeferredTaskRuns(ctx, "k", 1)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{older.ID}, got)

	got, err = s.ScheduledDeferredTaskRuns(ctx, "k", 0)
	require.NoError(t, err)
	require.Empty(t, got)

	got, err = s.ScheduledDeferredTaskRuns(ctx, "other-key", 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{other.ID}, got)

	got, err = s.ScheduledDeferredTaskRuns(ctx, "missing", 10)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)
}

// createDeferrable creates a task run without a flow run, as task.delay()
// does; those are unique per (task key, dynamic key).
func createDeferrable(t *testing.T, s storage.Store, name, key string) *apitype.TaskRun {
	t.Helper()
	tr, created, err := s.TaskRunCreate(context.Background(), &storage.TaskRunCreateParams{
		Run: apitype.TaskRun{ID: uuid.New(), Name: name, TaskKey: key, DynamicKey: uuid.NewString()}, Now: at(0),
	}, nil)
	require.NoError(t, err)
	require.True(t, created)
	return tr
}
