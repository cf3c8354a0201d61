package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func createLimitV2(t *testing.T, s storage.Store, name string, limit int, decay float64, n int) *apitype.ConcurrencyLimitV2 {
	t.Helper()
	l, err := s.ConcurrencyLimitV2Create(context.Background(), &storage.ConcurrencyLimitV2CreateParams{
		ID: uuid.New(), Name: name, Limit: limit, Active: true, SlotDecayPerSecond: decay, Now: at(n),
	})
	require.NoError(t, err)
	return l
}

func getLimitV2(t *testing.T, s storage.Store, name string, now time.Time) *apitype.ConcurrencyLimitV2 {
	t.Helper()
	l, err := s.ConcurrencyLimitV2Get(context.Background(), storage.LimitKey{Name: name}, now)
	require.NoError(t, err)
	return l
}

func increment(t *testing.T, s storage.Store, names []string, slots int, now time.Time, lease *storage.ConcurrencyLeaseParams) *storage.ConcurrencyIncrementResult {
	t.Helper()
	res, err := s.ConcurrencySlotsIncrement(context.Background(), &storage.ConcurrencyIncrementParams{
		Names: names, Slots: slots, Lease: lease, Now: now,
	})
	require.NoError(t, err)
	return res
}

func testConcurrencyLimitV2(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("CRUD", func(t *testing.T) {
		s := open(t)
		a := createLimitV2(t, s, "b-limit", 3, 0, 0)
		require.True(t, a.Active)
		require.Equal(t, stored(at(0)), a.Created)
		require.Equal(t, 2.0, a.AvgSlotOccupancySeconds)
		createLimitV2(t, s, "a-limit", 1, 0, 1)
		_, err := s.ConcurrencyLimitV2Create(ctx, &storage.ConcurrencyLimitV2CreateParams{ID: uuid.New(), Name: "b-limit", Limit: 1, Now: at(2)})
		require.ErrorIs(t, err, storage.ErrConflict)

		byID, err := s.ConcurrencyLimitV2Get(ctx, storage.LimitKey{ID: a.ID}, at(5))
		require.NoError(t, err)
		require.Equal(t, a, byID)
		_, err = s.ConcurrencyLimitV2Get(ctx, storage.LimitKey{Name: "missing"}, at(5))
		require.ErrorIs(t, err, storage.ErrNotFound)

		list, err := s.ConcurrencyLimitV2List(ctx, &storage.ConcurrencyLimitV2ListParams{Now: at(5)})
		require.NoError(t, err)
		require.Equal(t, []string{"a-limit", "b-limit"}, limitNames(list))
		page, err := s.ConcurrencyLimitV2List(ctx, &storage.ConcurrencyLimitV2ListParams{Limit: 1, Offset: 1, Now: at(5)})
		require.NoError(t, err)
		require.Equal(t, []string{"b-limit"}, limitNames(page))
		named, err := s.ConcurrencyLimitV2List(ctx, &storage.ConcurrencyLimitV2ListParams{Names: []string{"a-limit", "zz"}, Now: at(5)})
		require.NoError(t, err)
		require.Equal(t, []string{"a-limit"}, limitNames(named))

		require.NoError(t, s.ConcurrencyLimitV2Update(ctx, storage.LimitKey{Name: "b-limit"},
			&apitype.ConcurrencyLimitV2Update{Name: ptr("c-limit"), Limit: ptr(7), Active: ptr(false)}, at(6)))
		c := getLimitV2(t, s, "c-limit", at(6))
		require.Equal(t, a.ID, c.ID)
		require.Equal(t, 7, c.Limit)
		require.False(t, c.Active)
		require.Equal(t, stored(at(6)), c.Updated)
		err = s.ConcurrencyLimitV2Update(ctx, storage.LimitKey{ID: a.ID}, &apitype.ConcurrencyLimitV2Update{Name: ptr("a-limit")}, at(7))
		require.ErrorIs(t, err, storage.ErrConflict)
		err = s.ConcurrencyLimitV2Update(ctx, storage.LimitKey{Name: "missing"}, &apitype.ConcurrencyLimitV2Update{Limit: ptr(1)}, at(7))
		require.ErrorIs(t, err, storage.ErrNotFound)

		require.NoError(t, s.ConcurrencyLimitV2Delete(ctx, storage.LimitKey{ID: a.ID}, false))
		require.ErrorIs(t, s.ConcurrencyLimitV2Delete(ctx, storage.LimitKey{ID: a.ID}, false), storage.ErrNotFound)
		require.NoError(t, s.ConcurrencyLimitV2Delete(ctx, storage.LimitKey{Name: "a-limit"}, true))
	})

	t.Run("IncrementAllOrNothing", func(t *testing.T) {
		s := open(t)
		createLimitV2(t, s, "two", 2, 0, 0)
		createLimitV2(t, s, "one", 1, 0, 0)
		res := increment(t, s, []string{"two", "one"}, 1, at(1), nil)
		require.True(t, res.Acquired)
		require.ElementsMatch(t, []string{"two", "one"}, limitNames(res.Limits))
		// "one" is full: nothing is taken on "two" either, and both record
		// the denial.
		res = increment(t, s, []string{"two", "one"}, 1, at(1), nil)
		require.False(t, res.Acquired)
		two := getLimitV2(t, s, "two", at(1))
		require.Equal(t, 1, two.ActiveSlots)
		require.Equal(t, 1, two.DeniedSlots)
		require.Equal(t, 1, getLimitV2(t, s, "one", at(1)).DeniedSlots)

		_, err := s.ConcurrencySlotsIncrement(ctx, &storage.ConcurrencyIncrementParams{Names: []string{"two"}, Slots: 3, Now: at(2)})
		require.ErrorIs(t, err, storage.ErrSlotsExceedLimit)
		_, err = s.ConcurrencySlotsIncrement(ctx, &storage.ConcurrencyIncrementParams{
			Names: []string{"two", "one"}, Slots: 1, Mode: apitype.ConcurrencyModeRateLimit, Now: at(2)})
		var decayErr *storage.RateLimitDecayError
		require.ErrorAs(t, err, &decayErr)
		require.ElementsMatch(t, []string{"two", "one"}, decayErr.Names)

		// Unknown names grant nothing and find nothing; inactive limits are
		// reported but never incremented.
		res = increment(t, s, []string{"nope"}, 1, at(3), nil)
		require.True(t, res.Acquired)
		require.Empty(t, res.Limits)
		require.NoError(t, s.ConcurrencyLimitV2Update(ctx, storage.LimitKey{Name: "one"}, &apitype.ConcurrencyLimitV2Update{Active: ptr(false)}, at(3)))
		res = increment(t, s, []string{"one"}, 1, at(4), &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: at(100)})
		require.True(t, res.Acquired)
		require.False(t, res.LeaseCreated, "no active limit, no lease")
		require.Equal(t, 1, getLimitV2(t, s, "one", at(4)).ActiveSlots)

		found, err := s.ConcurrencySlotsDecrement(ctx, &storage.ConcurrencyDecrementParams{Names: []string{"two", "one"}, Slots: 5, Now: at(5)})
		require.NoError(t, err)
		require.Len(t, found, 2)
		require.Equal(t, 0, getLimitV2(t, s, "two", at(5)).ActiveSlots, "never below zero")
		require.Equal(t, 1, getLimitV2(t, s, "one", at(5)).ActiveSlots, "inactive limits are not decremented")
	})

	t.Run("DecayAndOccupancy", func(t *testing.T) {
		s := open(t)
		createLimitV2(t, s, "rate", 10, 2, 0) // two slots per second
		require.True(t, increment(t, s, []string{"rate"}, 10, at(0), nil).Acquired)
		require.False(t, increment(t, s, []string{"rate"}, 1, at(0), nil).Acquired)
		// 2.6 s later floor(2 * 2.6) = 5 slots have drained.
		later := at(0).Add(2600 * time.Millisecond)
		require.Equal(t, 5, getLimitV2(t, s, "rate", later).ActiveSlots)
		res := increment(t, s, []string{"rate"}, 5, later, nil)
		require.True(t, res.Acquired)
		require.Equal(t, 10, getLimitV2(t, s, "rate", later).ActiveSlots)
		require.Equal(t, 0, getLimitV2(t, s, "rate", at(100)).ActiveSlots)

		createLimitV2(t, s, "conc", 1, 0, 0)
		require.True(t, increment(t, s, []string{"conc"}, 1, at(0), nil).Acquired)
		require.Equal(t, 1, getLimitV2(t, s, "conc", at(1000)).ActiveSlots, "no decay configured")
		_, err := s.ConcurrencySlotsDecrement(ctx, &storage.ConcurrencyDecrementParams{
			Names: []string{"conc"}, Slots: 1, OccupancySeconds: 10, Now: at(10)})
		require.NoError(t, err)
		// Moving average over limit*2 = 2 samples: 2 + 10/2 - 2/2 = 6.
		require.InDelta(t, 6.0, getLimitV2(t, s, "conc", at(10)).AvgSlotOccupancySeconds, 1e-9)
	})

	t.Run("ConcurrentIncrementsNeverOvergrant", func(t *testing.T) {
		s := open(t)
		const n, k = 24, 3
		createLimitV2(t, s, "racy-a", k, 0, 0)
		createLimitV2(t, s, "racy-b", k+1, 0, 0)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			granted = make([]bool, n)
			errs    = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				// Alternate the name order: locking must not depend on it.
				names := []string{"racy-a", "racy-b"}
				if i%2 == 1 {
					names = []string{"racy-b", "racy-a"}
				}
				res, err := s.ConcurrencySlotsIncrement(ctx, &storage.ConcurrencyIncrementParams{
					Names: names, Slots: 1, Now: at(1),
					Lease: &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: at(300)},
				})
				errs[i] = err
				granted[i] = err == nil && res.Acquired
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i := range n {
			require.NoError(t, errs[i])
			if granted[i] {
				wins++
			}
		}
		require.Equal(t, k, wins)
		require.Equal(t, k, getLimitV2(t, s, "racy-a", at(1)).ActiveSlots)
		require.Equal(t, k, getLimitV2(t, s, "racy-b", at(1)).ActiveSlots)
		// Every winner holds a lease: expiring them all frees every slot.
		freed, err := s.ConcurrencyLeasesExpire(ctx, at(301), 100, storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.Equal(t, k, freed)
		require.Equal(t, 0, getLimitV2(t, s, "racy-a", at(301)).ActiveSlots)
	})
}

func limitNames(ls []apitype.ConcurrencyLimitV2) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}

func testConcurrencyLease(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("Lifecycle", func(t *testing.T) {
		s := open(t)
		l := createLimitV2(t, s, "leased", 2, 0, 0)
		holder := &apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: uuid.New()}
		leaseID := uuid.New()
		res := increment(t, s, []string{"leased"}, 2, at(0), &storage.ConcurrencyLeaseParams{ID: leaseID, Expiration: at(60), Holder: holder})
		require.True(t, res.LeaseCreated)
		lease, err := s.ConcurrencyLeaseGet(ctx, leaseID)
		require.NoError(t, err)
		require.Equal(t, &apitype.ConcurrencyLease{ID: leaseID, ResourceIDs: []uuid.UUID{l.ID}, Slots: 2, Holder: holder,
			Expiration: stored(at(60)), Created: stored(at(0))}, lease)

		holders, err := s.ConcurrencyLeaseHolders(ctx, l.ID, at(1))
		require.NoError(t, err)
		require.Len(t, holders, 1)
		require.Equal(t, holder, holders[0].Holder)

		require.NoError(t, s.ConcurrencyLeaseRenew(ctx, leaseID, at(120), at(59)))
		holders, err = s.ConcurrencyLeaseHolders(ctx, l.ID, at(100))
		require.NoError(t, err)
		require.Len(t, holders, 1, "renewed past 100")
		require.ErrorIs(t, s.ConcurrencyLeaseRenew(ctx, leaseID, at(300), at(121)), storage.ErrNotFound, "expired leases cannot be renewed")
		require.ErrorIs(t, s.ConcurrencyLeaseRenew(ctx, uuid.New(), at(300), at(0)), storage.ErrNotFound)

		released, err := s.ConcurrencyLeaseRelease(ctx, leaseID, storage.ConcurrencyReleaseParams{RecordOccupancy: true, Now: at(40)})
		require.NoError(t, err)
		require.Equal(t, leaseID, released.ID)
		after := getLimitV2(t, s, "leased", at(40))
		require.Equal(t, 0, after.ActiveSlots)
		// 40 s over 2 slots = 20 s per slot, averaged over 4 samples: 2 + 20/4 - 2/4.
		require.InDelta(t, 6.5, after.AvgSlotOccupancySeconds, 1e-6) // created was stored to the microsecond
		_, err = s.ConcurrencyLeaseRelease(ctx, leaseID, storage.ConcurrencyReleaseParams{Now: at(41)})
		require.ErrorIs(t, err, storage.ErrNotFound, "a lease is released once")
		_, err = s.ConcurrencyLeaseGet(ctx, leaseID)
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("ExpireInBatches", func(t *testing.T) {
		s := open(t)
		createLimitV2(t, s, "exp", 5, 0, 0)
		for i := range 4 {
			// Leases expire at 10, 20, 30, 40.
			increment(t, s, []string{"exp"}, 1, at(0), &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: at(10 * (i + 1))})
		}
		n, err := s.ConcurrencyLeasesExpire(ctx, at(5), 10, storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.Equal(t, 0, n)
		n, err = s.ConcurrencyLeasesExpire(ctx, at(35), 2, storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.Equal(t, 2, n, "batch caps the work")
		require.Equal(t, 2, getLimitV2(t, s, "exp", at(35)).ActiveSlots)
		n, err = s.ConcurrencyLeasesExpire(ctx, at(35), 10, storage.ConcurrencyWaits{})
		require.NoError(t, err)
		require.Equal(t, 1, n, "the lease expiring at 40 stays")
		require.Equal(t, 1, getLimitV2(t, s, "exp", at(35)).ActiveSlots)
	})

	t.Run("ReleaseByHolderAndReset", func(t *testing.T) {
		s := open(t)
		a := createLimitV2(t, s, "tag:a", 3, 0, 0)
		b := createLimitV2(t, s, "tag:b", 3, 0, 0)
		run := apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: uuid.New()}
		other := apitype.ConcurrencyLeaseHolder{Type: apitype.LeaseHolderTaskRun, ID: uuid.New()}
		increment(t, s, []string{"tag:a", "tag:b"}, 1, at(0), &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: at(60), Holder: &run})
		increment(t, s, []string{"tag:a"}, 1, at(0), &storage.ConcurrencyLeaseParams{ID: uuid.New(), Expiration: at(60), Holder: &other})
		n, err := s.ConcurrencyLeasesReleaseByHolder(ctx, run, []uuid.UUID{b.ID}, storage.ConcurrencyReleaseParams{Now: at(1)})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, 1, getLimitV2(t, s, "tag:a", at(1)).ActiveSlots, "only other's slot is left")
		require.Equal(t, 0, getLimitV2(t, s, "tag:b", at(1)).ActiveSlots)

		x, y := uuid.New(), uuid.New()
		require.NoError(t, s.ConcurrencyLimitV2ResetSlots(ctx, a.ID, []uuid.UUID{x, y}, at(1000), at(2)))
		require.Equal(t, 2, getLimitV2(t, s, "tag:a", at(2)).ActiveSlots)
		holders, err := s.ConcurrencyLeaseHolders(ctx, a.ID, at(3))
		require.NoError(t, err)
		got := []uuid.UUID{}
		for _, h := range holders {
			got = append(got, h.Holder.ID)
		}
		require.ElementsMatch(t, []uuid.UUID{x, y}, got, "other's lease was revoked")
		require.ErrorIs(t, s.ConcurrencyLimitV2ResetSlots(ctx, uuid.New(), nil, at(1000), at(2)), storage.ErrNotFound)

		require.NoError(t, s.ConcurrencyLimitV2Delete(ctx, storage.LimitKey{ID: a.ID}, true))
		holders, err = s.ConcurrencyLeaseHolders(ctx, a.ID, at(3))
		require.NoError(t, err)
		require.Empty(t, holders)
	})
}

func testTagConcurrencyLimit(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()
	s := open(t)
	create := func(tag string, limit, n int) *apitype.ConcurrencyLimit {
		l, err := s.TagConcurrencyLimitCreate(ctx, &storage.TagConcurrencyLimitCreateParams{ID: uuid.New(), Tag: tag, Limit: limit, Now: at(n)})
		require.NoError(t, err)
		return l
	}
	db := create("db", 1, 0)
	require.Equal(t, []uuid.UUID{}, db.ActiveSlots)
	create("api", 2, 1)
	_, err := s.TagConcurrencyLimitCreate(ctx, &storage.TagConcurrencyLimitCreateParams{ID: uuid.New(), Tag: "db", Limit: 3, Now: at(2)})
	require.ErrorIs(t, err, storage.ErrConflict)

	got, err := s.TagConcurrencyLimitGet(ctx, storage.LimitKey{ID: db.ID})
	require.NoError(t, err)
	require.Equal(t, db, got)
	_, err = s.TagConcurrencyLimitGet(ctx, storage.LimitKey{Name: "nope"})
	require.ErrorIs(t, err, storage.ErrNotFound)
	all, err := s.TagConcurrencyLimitList(ctx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"api", "db"}, tagNames(all))
	page, err := s.TagConcurrencyLimitList(ctx, 1, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"db"}, tagNames(page))
	byTags, err := s.TagConcurrencyLimitsByTags(ctx, []string{"db", "x"})
	require.NoError(t, err)
	require.Equal(t, []string{"db"}, tagNames(byTags))

	r1, r2 := uuid.New(), uuid.New()
	ok, err := s.TagConcurrencyLimitAddSlot(ctx, "db", r1, at(3))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.TagConcurrencyLimitAddSlot(ctx, "db", r1, at(3))
	require.NoError(t, err)
	require.True(t, ok, "a holder asking again keeps its slot")
	ok, err = s.TagConcurrencyLimitAddSlot(ctx, "db", r2, at(3))
	require.NoError(t, err)
	require.False(t, ok, "full")
	_, err = s.TagConcurrencyLimitAddSlot(ctx, "nope", r2, at(3))
	require.ErrorIs(t, err, storage.ErrNotFound)
	got, err = s.TagConcurrencyLimitGet(ctx, storage.LimitKey{Name: "db"})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{r1}, got.ActiveSlots)
	require.Equal(t, stored(at(3)), got.Updated)

	ok, err = s.TagConcurrencyLimitRemoveSlot(ctx, "db", r2, at(4))
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = s.TagConcurrencyLimitRemoveSlot(ctx, "db", r1, at(4))
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, s.TagConcurrencyLimitSetSlots(ctx, "api", []uuid.UUID{r1, r2}, at(5)))
	got, err = s.TagConcurrencyLimitGet(ctx, storage.LimitKey{Name: "api"})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{r1, r2}, got.ActiveSlots)
	require.ErrorIs(t, s.TagConcurrencyLimitSetSlots(ctx, "nope", nil, at(5)), storage.ErrNotFound)

	require.NoError(t, s.TagConcurrencyLimitDelete(ctx, storage.LimitKey{Name: "api"}))
	require.NoError(t, s.TagConcurrencyLimitDelete(ctx, storage.LimitKey{ID: db.ID}))
	err = s.TagConcurrencyLimitDelete(ctx, storage.LimitKey{ID: db.ID})
	require.True(t, errors.Is(err, storage.ErrNotFound), fmt.Sprint(err))
}

func tagNames(ls []apitype.ConcurrencyLimit) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Tag
	}
	return out
}

// testConcurrencyLimits covers ConcurrencyStore: v2 limits, leases, v1 tags.
func testConcurrencyLimits(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("V2", func(t *testing.T) { testConcurrencyLimitV2(t, open) })
	t.Run("Lease", func(t *testing.T) { testConcurrencyLease(t, open) })
	t.Run("Tag", func(t *testing.T) { testTagConcurrencyLimit(t, open) })
}
