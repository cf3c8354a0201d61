package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// storage.ConcurrencyTx over the orchestration transaction. The single
// writer connection excludes every other writer for the whole transaction,
// so rows read here stay as read until it ends: that is the lock.

var _ storage.ConcurrencyTx = (*runTx)(nil)

const inIDs = `id IN (SELECT value FROM json_each(?))`

func (t *runTx) LockConcurrencyLimitsByName(ctx context.Context, names []string) ([]apitype.ConcurrencyLimitV2, error) {
	return queryLimitsV2(ctx, t.tx, inNames, `ORDER BY id`, storage.JSONList(names))
}

func (t *runTx) LockTagConcurrencyLimits(ctx context.Context, tags []string) ([]apitype.ConcurrencyLimit, error) {
	return queryTagLimits(ctx, t.tx, `tag IN (SELECT value FROM json_each(?))`, `ORDER BY tag`, storage.JSONList(tags))
}

func (t *runTx) ConcurrencyLeaseActive(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM concurrency_lease WHERE id = ? AND expiration > ?`,
		id.String(), encodeTime(now)).Scan(&n); err != nil {
		return false, fmt.Errorf("read lease: %w", err)
	}
	return n > 0, nil
}

func (t *runTx) IncrementConcurrencySlots(ctx context.Context, ids []uuid.UUID, slots int, now time.Time, w storage.ConcurrencyWaits) (bool, error) {
	rows, err := queryLimitsV2(ctx, t.tx, inIDs, `ORDER BY id`, storage.JSONList(storage.UUIDStrings(ids)))
	if err != nil {
		return false, err
	}
	writes, granted, err := storage.PlanIncrement(rows, &storage.ConcurrencyIncrementParams{Slots: slots, Waits: w, Now: now})
	if err != nil || !granted {
		return false, err
	}
	return true, writeLimitSlots(ctx, t.tx, writes)
}

func (t *runTx) DecrementConcurrencySlots(ctx context.Context, ids []uuid.UUID, slots int, now time.Time, w storage.ConcurrencyWaits) error {
	return decrementLimitIDs(ctx, t.tx, ids, slots, 0, now, w)
}

func (t *runTx) CreateConcurrencyLease(ctx context.Context, l *apitype.ConcurrencyLease) error {
	return insertLease(ctx, t.tx, l)
}

func (t *runTx) RenewConcurrencyLease(ctx context.Context, id uuid.UUID, expiration, now time.Time) error {
	return execOne(ctx, t.tx, "renew lease", `UPDATE concurrency_lease SET expiration = ? WHERE id = ? AND expiration > ?`,
		encodeTime(expiration), id.String(), encodeTime(now))
}

func (t *runTx) RevokeConcurrencyLease(ctx context.Context, id uuid.UUID) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM concurrency_lease WHERE id = ?`, id.String()); err != nil {
		return fmt.Errorf("revoke lease: %w", err)
	}
	return nil
}

func (t *runTx) ReleaseConcurrencyLease(ctx context.Context, id uuid.UUID, p storage.ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error) {
	return releaseLease(ctx, t.tx, id, p)
}

func (t *runTx) ReleaseHolderConcurrencyLeases(ctx context.Context, holder apitype.ConcurrencyLeaseHolder, limitIDs []uuid.UUID, p storage.ConcurrencyReleaseParams) (int, error) {
	leases, err := queryLeases(ctx, t.tx, `holder_type = ? AND holder_id = ? AND EXISTS (SELECT 1 FROM json_each(concurrency_lease.resource_ids) AS r
		WHERE r.value IN (SELECT value FROM json_each(?)))`, `ORDER BY id`,
		holder.Type, holder.ID.String(), storage.JSONList(storage.UUIDStrings(limitIDs)))
	if err != nil {
		return 0, err
	}
	for _, l := range leases {
		if _, err := releaseLease(ctx, t.tx, l.ID, p); err != nil {
			return 0, err
		}
	}
	return len(leases), nil
}

func (t *runTx) AddTagConcurrencySlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (bool, error) {
	l, err := scanTagLimit(t.tx.QueryRowContext(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE tag = ?`, tag))
	if err != nil {
		return false, fmt.Errorf("get tag limit: %w", err)
	}
	if slices.Contains(l.ActiveSlots, taskRunID) {
		return true, nil
	}
	if len(l.ActiveSlots) >= l.ConcurrencyLimit {
		return false, nil
	}
	return true, setTagSlots(ctx, t.tx, tag, append(l.ActiveSlots, taskRunID), now)
}

func (t *runTx) RemoveTagConcurrencySlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) error {
	l, err := scanTagLimit(t.tx.QueryRowContext(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE tag = ?`, tag))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get tag limit: %w", err)
	}
	i := slices.Index(l.ActiveSlots, taskRunID)
	if i < 0 {
		return nil
	}
	return setTagSlots(ctx, t.tx, tag, slices.Delete(l.ActiveSlots, i, i+1), now)
}
