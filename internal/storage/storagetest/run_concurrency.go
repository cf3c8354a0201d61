package storagetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// testRunConcurrency covers storage.ConcurrencyTx: the slot, lease and tag
// reads and writes a set_state makes inside the run's transaction.
func testRunConcurrency(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("SlotsAndLeases", func(t *testing.T) { testRunTxSlotsAndLeases(t, open(t)) })
	t.Run("LeaseLifecycle", func(t *testing.T) { testRunTxLeaseLifecycle(t, open(t)) })
	t.Run("TagSlots", func(t *testing.T) { testRunTxTagSlots(t, open(t)) })
	t.Run("LockedSnapshotsNeverOvergrant", func(t *testing.T) { testRunTxNoOvergrant(t, open(t)) })
}

// inTaskRunTx runs fn in the orchestration transaction of a task run.
func inTaskRunTx(t *testing.T, s storage.Store, id uuid.UUID, fn func(ctx context.Context, tx storage.RunTx) error) error {
	t.Helper()
	return s.TaskRunOrchestrate(context.Background(), id, fn)
}

func testRunTxSlotsAndLeases(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := createLimitV2(t, s, "tag:a", 1, 0, 0)
	b := createLimitV2(t, s, "tag:b", 2, 0, 0)
	tr := createTaskRun(t, s, nil, "t", "k")
	holder := apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: tr.ID}
	lease := uuid.New()

	err := inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
		rows, err := tx.LockConcurrencyLimitsByName(ctx, []string{"tag:b", "missing", "tag:a"})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"tag:a", "tag:b"}, limitNames(rows))
		require.Negative(t, strings.Compare(rows[0].ID.String(), rows[1].ID.String()), "id order")
		granted, err := tx.IncrementConcurrencySlots(ctx, []uuid.UUID{a.ID, b.ID}, 1, at(1), storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.True(t, granted)
		require.NoError(t, tx.CreateConcurrencyLease(ctx, &apitype.ConcurrencyLease{ID: lease, ResourceIDs: []uuid.UUID{a.ID, b.ID},
			Slots: 1, Expiration: at(100), Created: at(1), Holder: &holder}))
		active, err := tx.ConcurrencyLeaseActive(ctx, lease, at(2))
		require.NoError(t, err)
		require.True(t, active, "reads see the transaction's own lease")
		granted, err = tx.IncrementConcurrencySlots(ctx, []uuid.UUID{a.ID}, 1, at(2), storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.False(t, granted, "tag:a is full")
		_, err = tx.IncrementConcurrencySlots(ctx, []uuid.UUID{b.ID}, 3, at(2), storage.ConcurrencyWaits{})
		require.ErrorIs(t, err, storage.ErrSlotsExceedLimit)
		return nil
	})
	require.NoError(t, err)
	gotA := getLimitV2(t, s, "tag:a", at(3))
	require.Equal(t, 1, gotA.ActiveSlots)
	require.Zero(t, gotA.DeniedSlots, "a refused increment writes nothing")
	require.Equal(t, 1, getLimitV2(t, s, "tag:b", at(3)).ActiveSlots)

	for _, c := range []struct {
		at   int
		want bool
	}{{50, true}, {100, false}, {200, false}} {
		err = inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
			active, err := tx.ConcurrencyLeaseActive(ctx, lease, at(c.at))
			require.Equal(t, c.want, active, "at %d", c.at)
			return err
		})
		require.NoError(t, err)
	}

	err = inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
		other := apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: uuid.New()}
		n, err := tx.ReleaseHolderConcurrencyLeases(ctx, other, []uuid.UUID{a.ID}, storage.ConcurrencyReleaseParams{Now: at(4)})
		require.NoError(t, err)
		require.Zero(t, n, "another holder's leases are untouched")
		n, err = tx.ReleaseHolderConcurrencyLeases(ctx, holder, []uuid.UUID{b.ID}, storage.ConcurrencyReleaseParams{Now: at(4)})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, getLimitV2(t, s, "tag:a", at(5)).ActiveSlots, "the lease frees every limit it covers")
	require.Zero(t, getLimitV2(t, s, "tag:b", at(5)).ActiveSlots)
	_, err = s.ConcurrencyLeaseGet(ctx, lease)
	require.ErrorIs(t, err, storage.ErrNotFound)

	// A rolled-back transition leaves neither slots nor lease behind.
	boom := errors.New("boom")
	err = inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
		granted, err := tx.IncrementConcurrencySlots(ctx, []uuid.UUID{a.ID}, 1, at(6), storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.True(t, granted)
		require.NoError(t, tx.CreateConcurrencyLease(ctx, &apitype.ConcurrencyLease{ID: lease, ResourceIDs: []uuid.UUID{a.ID},
			Slots: 1, Expiration: at(100), Created: at(6), Holder: &holder}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Zero(t, getLimitV2(t, s, "tag:a", at(7)).ActiveSlots)
	_, err = s.ConcurrencyLeaseGet(ctx, lease)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testRunTxLeaseLifecycle(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := createLimitV2(t, s, "deploy", 3, 0, 0)
	tr := createTaskRun(t, s, nil, "t", "k")
	increment(t, s, []string{"deploy"}, 3, at(1), nil)
	renewed, revoked, released := uuid.New(), uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{renewed, revoked, released} {
		err := inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
			return tx.CreateConcurrencyLease(ctx, &apitype.ConcurrencyLease{ID: id, ResourceIDs: []uuid.UUID{a.ID}, Slots: 1,
				Expiration: at(10), Created: at(1)})
		})
		require.NoError(t, err)
	}

	err := inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
		require.NoError(t, tx.RenewConcurrencyLease(ctx, renewed, at(60), at(5)))
		require.ErrorIs(t, tx.RenewConcurrencyLease(ctx, revoked, at(60), at(10)), storage.ErrNotFound, "expired at now")
		require.ErrorIs(t, tx.RenewConcurrencyLease(ctx, uuid.New(), at(60), at(5)), storage.ErrNotFound)

		require.NoError(t, tx.RevokeConcurrencyLease(ctx, revoked))
		require.NoError(t, tx.RevokeConcurrencyLease(ctx, revoked), "revoking a gone lease is not an error")

		l, err := tx.ReleaseConcurrencyLease(ctx, released, storage.ConcurrencyReleaseParams{Now: at(6)})
		require.NoError(t, err)
		require.Equal(t, released, l.ID)
		_, err = tx.ReleaseConcurrencyLease(ctx, released, storage.ConcurrencyReleaseParams{Now: at(6)})
		require.ErrorIs(t, err, storage.ErrNotFound)

		require.NoError(t, tx.DecrementConcurrencySlots(ctx, []uuid.UUID{a.ID, uuid.New()}, 1, at(7), storage.ConcurrencyWaits{}))
		require.NoError(t, tx.DecrementConcurrencySlots(ctx, nil, 1, at(7), storage.ConcurrencyWaits{}))
		return nil
	})
	require.NoError(t, err)

	got, err := s.ConcurrencyLeaseGet(ctx, renewed)
	require.NoError(t, err)
	require.Equal(t, stored(at(60)), got.Expiration)
	_, err = s.ConcurrencyLeaseGet(ctx, revoked)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.Equal(t, 1, getLimitV2(t, s, "deploy", at(8)).ActiveSlots, "revoke frees nothing; release and decrement one each")

	err = inTaskRunTx(t, s, tr.ID, func(ctx context.Context, tx storage.RunTx) error {
		return tx.DecrementConcurrencySlots(ctx, []uuid.UUID{a.ID}, 5, at(9), storage.ConcurrencyWaits{})
	})
	require.NoError(t, err)
	require.Zero(t, getLimitV2(t, s, "deploy", at(9)).ActiveSlots, "never below zero")
}

func testRunTxTagSlots(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, tag := range []string{"db", "api"} {
		_, err := s.TagConcurrencyLimitCreate(ctx, &storage.TagConcurrencyLimitCreateParams{ID: uuid.New(), Tag: tag, Limit: 1, Now: at(0)})
		require.NoError(t, err)
	}
	tr1, tr2 := createTaskRun(t, s, nil, "t1", "k1"), createTaskRun(t, s, nil, "t2", "k2")

	err := inTaskRunTx(t, s, tr1.ID, func(ctx context.Context, tx storage.RunTx) error {
		rows, err := tx.LockTagConcurrencyLimits(ctx, []string{"none", "db", "api"})
		require.NoError(t, err)
		require.Equal(t, []string{"api", "db"}, tagNames(rows), "tag order")
		held, err := tx.AddTagConcurrencySlot(ctx, "db", tr1.ID, at(1))
		require.NoError(t, err)
		require.True(t, held)
		held, err = tx.AddTagConcurrencySlot(ctx, "db", tr1.ID, at(1))
		require.NoError(t, err)
		require.True(t, held, "already held")
		held, err = tx.AddTagConcurrencySlot(ctx, "db", tr2.ID, at(1))
		require.NoError(t, err)
		require.False(t, held, "full")
		_, err = tx.AddTagConcurrencySlot(ctx, "none", tr1.ID, at(1))
		require.ErrorIs(t, err, storage.ErrNotFound)
		require.NoError(t, tx.RemoveTagConcurrencySlot(ctx, "db", tr2.ID, at(1)), "not holding is not an error")
		require.NoError(t, tx.RemoveTagConcurrencySlot(ctx, "none", tr2.ID, at(1)), "no limit is not an error")
		return nil
	})
	require.NoError(t, err)
	db, err := s.TagConcurrencyLimitGet(ctx, storage.LimitKey{Name: "db"})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{tr1.ID}, db.ActiveSlots)
	require.Equal(t, stored(at(1)), db.Updated)

	err = inTaskRunTx(t, s, tr1.ID, func(ctx context.Context, tx storage.RunTx) error {
		return tx.RemoveTagConcurrencySlot(ctx, "db", tr1.ID, at(2))
	})
	require.NoError(t, err)
	db, err = s.TagConcurrencyLimitGet(ctx, storage.LimitKey{Name: "db"})
	require.NoError(t, err)
	require.Empty(t, db.ActiveSlots)
}

// testRunTxNoOvergrant races set_states of different task runs over one
// limit, each deciding on its locked snapshot as the engine does: exactly
// limit of them get a slot, and none finds its snapshot stale.
func testRunTxNoOvergrant(t *testing.T, s storage.Store) {
	const limit, n = 3, 10
	createLimitV2(t, s, "tag:hot", limit, 0, 0)
	runs := make([]*apitype.TaskRun, n)
	for i := range runs {
		runs[i] = createTaskRun(t, s, nil, "t", uuid.NewString())
	}
	type outcome struct {
		granted bool
		err     error
	}
	results := make(chan outcome, n)
	start := make(chan struct{})
	for _, tr := range runs {
		go func() {
			<-start
			var got bool
			err := s.TaskRunOrchestrate(context.Background(), tr.ID, func(ctx context.Context, tx storage.RunTx) error {
				rows, err := tx.LockConcurrencyLimitsByName(ctx, []string{"tag:hot"})
				if err != nil || len(rows) != 1 {
					return errors.Join(err, errors.New("limit not read"))
				}
				if storage.DecayedActiveSlots(&rows[0], at(1))+1 > rows[0].Limit {
					return nil // the engine would WAIT
				}
				granted, err := tx.IncrementConcurrencySlots(ctx, []uuid.UUID{rows[0].ID}, 1, at(1), storage.ConcurrencyWaits{})
				if err == nil && !granted {
					err = errors.New("stale snapshot: slot refused after the read said it was free")
				}
				got = granted
				return err
			})
			results <- outcome{got, err}
		}()
	}
	close(start)
	granted := 0
	for range n {
		o := <-results
		require.NoError(t, o.err)
		if o.granted {
			granted++
		}
	}
	require.Equal(t, limit, granted)
	require.Equal(t, limit, getLimitV2(t, s, "tag:hot", at(2)).ActiveSlots)
}
