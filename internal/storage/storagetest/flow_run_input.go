package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testFlowRunInput(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("CRUD", func(t *testing.T) { testFlowRunInputCRUD(t, open(t)) })
	t.Run("Filter", func(t *testing.T) { testFlowRunInputFilter(t, open(t)) })
	t.Run("Tx", func(t *testing.T) { testFlowRunInputTx(t, open(t)) })
}

func newFlowRunInput(runID uuid.UUID, key, value string, n int) *apitype.FlowRunInput {
	return &apitype.FlowRunInput{ID: uuid.New(), Created: at(n), Updated: at(n), FlowRunID: runID, Key: key, Value: value}
}

func testFlowRunInputCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := createFlow(t, s, "inputs", nil, 0)
	fr := createFlowRun(t, s, f.ID, "run")
	other := createFlowRun(t, s, f.ID, "other")

	sender := "prefect.flow-run.abc"
	in := newFlowRunInput(fr.ID, "paused-1-schema", `{"type":"object"}`, 1)
	in.Sender = &sender
	require.NoError(t, s.FlowRunInputCreate(ctx, in))
	got, err := s.FlowRunInputGet(ctx, fr.ID, "paused-1-schema")
	require.NoError(t, err)
	want := *in
	want.Created, want.Updated = stored(in.Created), stored(in.Updated)
	require.Equal(t, &want, got)

	// The key is unique per run only.
	err = s.FlowRunInputCreate(ctx, newFlowRunInput(fr.ID, "paused-1-schema", "x", 2))
	require.ErrorIs(t, err, storage.ErrConflict)
	require.NoError(t, s.FlowRunInputCreate(ctx, newFlowRunInput(other.ID, "paused-1-schema", "y", 2)))

	// A missing run is ErrNotFound and writes nothing.
	missing := uuid.New()
	err = s.FlowRunInputCreate(ctx, newFlowRunInput(missing, "k", "v", 3))
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.FlowRunInputGet(ctx, missing, "k")
	require.ErrorIs(t, err, storage.ErrNotFound)

	_, err = s.FlowRunInputGet(ctx, fr.ID, "nope")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.FlowRunInputDelete(ctx, fr.ID, "paused-1-schema"))
	require.ErrorIs(t, s.FlowRunInputDelete(ctx, fr.ID, "paused-1-schema"), storage.ErrNotFound)
	_, err = s.FlowRunInputGet(ctx, other.ID, "paused-1-schema")
	require.NoError(t, err, "deleting one run's key leaves the other run's")

	// Deleting the run deletes its inputs.
	require.NoError(t, s.FlowRunDelete(ctx, other.ID))
	_, err = s.FlowRunInputGet(ctx, other.ID, "paused-1-schema")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testFlowRunInputFilter(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := createFlow(t, s, "inputs", nil, 0)
	fr := createFlowRun(t, s, f.ID, "run")
	other := createFlowRun(t, s, f.ID, "other")
	// Created out of key order, to see the order is by created.
	for i, k := range []string{"msg-c", "msg-a", "msg-b", "other-a", "msgx"} {
		require.NoError(t, s.FlowRunInputCreate(ctx, newFlowRunInput(fr.ID, k, k, 10+i)))
	}
	require.NoError(t, s.FlowRunInputCreate(ctx, newFlowRunInput(other.ID, "msg-z", "z", 1)))

	keys := func(p storage.FlowRunInputFilterParams) []string {
		t.Helper()
		got, err := s.FlowRunInputFilter(ctx, &p)
		require.NoError(t, err)
		out := []string{}
		for _, in := range got {
			require.Equal(t, p.FlowRunID, in.FlowRunID)
			out = append(out, in.Key)
		}
		return out
	}
	require.Equal(t, []string{"msg-c", "msg-a", "msg-b", "msgx"}, keys(storage.FlowRunInputFilterParams{FlowRunID: fr.ID, Prefix: "msg", Limit: 10}))
	require.Equal(t, []string{"msg-c", "msg-a"}, keys(storage.FlowRunInputFilterParams{FlowRunID: fr.ID, Prefix: "msg-", Limit: 2}))
	require.Equal(t, []string{"msg-a", "msg-b"}, keys(storage.FlowRunInputFilterParams{FlowRunID: fr.ID, Prefix: "msg-", Limit: 10,
		ExcludeKeys: []string{"msg-c"}}))
	require.Equal(t, []string{"msg-c", "msg-a", "msg-b", "other-a", "msgx"}, keys(storage.FlowRunInputFilterParams{FlowRunID: fr.ID, Limit: -1}))
	require.Equal(t, []string{}, keys(storage.FlowRunInputFilterParams{FlowRunID: fr.ID, Prefix: "msg", Limit: 0}))
	// As in Prefect, the prefix is a LIKE pattern: "_" matches any character.
	require.Equal(t, []string{"msg-c", "msg-a", "msg-b", "msgx"}, keys(storage.FlowRunInputFilterParams{FlowRunID: fr.ID, Prefix: "msg_", Limit: 10}))
	require.Equal(t, []string{}, keys(storage.FlowRunInputFilterParams{FlowRunID: uuid.New(), Prefix: "msg", Limit: 10}))
}

// testFlowRunInputTx checks the RunTx view commits and rolls back with the
// orchestration transaction.
func testFlowRunInputTx(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := createFlow(t, s, "inputs", nil, 0)
	fr := createFlowRun(t, s, f.ID, "run")
	require.NoError(t, s.FlowRunInputCreate(ctx, newFlowRunInput(fr.ID, "stale", "old", 1)))

	errBoom := errors.New("boom")
	err := s.FlowRunOrchestrate(ctx, fr.ID, func(ctx context.Context, tx storage.RunTx) error {
		itx, ok := tx.(storage.FlowRunInputTx)
		require.True(t, ok, "RunTx implements FlowRunInputTx")
		require.NoError(t, itx.DeleteFlowRunInput(ctx, fr.ID, "stale"))
		require.NoError(t, itx.CreateFlowRunInput(ctx, newFlowRunInput(fr.ID, "fresh", "new", 2)))
		got, err := itx.FlowRunInput(ctx, fr.ID, "fresh")
		require.NoError(t, err)
		require.Equal(t, "new", got.Value)
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	_, err = s.FlowRunInputGet(ctx, fr.ID, "stale")
	require.NoError(t, err, "rolled back: the delete is undone")
	_, err = s.FlowRunInputGet(ctx, fr.ID, "fresh")
	require.ErrorIs(t, err, storage.ErrNotFound, "rolled back: the insert is undone")

	err = s.FlowRunOrchestrate(ctx, fr.ID, func(ctx context.Context, tx storage.RunTx) error {
		itx := tx.(storage.FlowRunInputTx)
		require.NoError(t, itx.DeleteFlowRunInput(ctx, fr.ID, "stale"))
		require.NoError(t, itx.DeleteFlowRunInput(ctx, fr.ID, "absent"), "absent is not an error")
		_, err := itx.FlowRunInput(ctx, fr.ID, "absent")
		require.ErrorIs(t, err, storage.ErrNotFound)
		return itx.CreateFlowRunInput(ctx, newFlowRunInput(fr.ID, "fresh", "new", 2))
	})
	require.NoError(t, err)
	_, err = s.FlowRunInputGet(ctx, fr.ID, "stale")
	require.ErrorIs(t, err, storage.ErrNotFound)
	got, err := s.FlowRunInputGet(ctx, fr.ID, "fresh")
	require.NoError(t, err)
	require.Equal(t, "new", got.Value)
}
