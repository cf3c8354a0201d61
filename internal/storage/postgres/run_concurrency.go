package postgres

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

// storage.ConcurrencyTx over the orchestration transaction, which already
// holds the run's row lock. Limit rows are locked FOR UPDATE in the order
// every other slot writer uses (v2 by id; v1 by tag, one table at a time),
// so concurrent set_states and increments queue instead of deadlocking.

var _ storage.ConcurrencyTx = (*runTx)(nil)

func (t *runTx) LockConcurrencyLimitsByName(ctx context.Context, names []string) ([]apitype.ConcurrencyLimitV2, error) {
	return lockLimitsByName(ctx, t.tx, names)
}

func (t *runTx) LockTagConcurrencyLimits(ctx context.Context, tags []string) ([]apitype.ConcurrencyLimit, error) {
	return queryTagLimits(ctx, t.tx, `tag = ANY($1::text[])`, `ORDER BY tag FOR UPDATE`, nonNil(tags))
}

func (t *runTx) ConcurrencyLeaseActive(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	var active bool
	if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM concurrency_lease WHERE id = $1 AND expiration > $2)`,
		id, storage.DBTime(now)).Scan(&active); err != nil {
		return false, fmt.Errorf("read lease: %w", err)
	}
	return active, nil
}

func (t *runTx) IncrementConcurrencySlots(ctx context.Context, ids []uuid.UUID, slots int, now time.Time, w storage.ConcurrencyWaits) (bool, error) {
	rows, err := queryLimitsV2(ctx, t.tx, `id = ANY($1::uuid[])`, `ORDER BY id FOR UPDATE`, storage.UUIDStrings(ids))
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
	return execOne(ctx, t.tx, "renew lease", `UPDATE concurrency_lease SET expiration = $1 WHERE id = $2 AND expiration > $3`,
		storage.DBTime(expiration), id, storage.DBTime(now))
}

func (t *runTx) RevokeConcurrencyLease(ctx context.Context, id uuid.UUID) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM concurrency_lease WHERE id = $1`, id); err != nil {
		return fmt.Errorf("revoke lease: %w", err)
	}
	return nil
}

func (t *runTx) ReleaseConcurrencyLease(ctx context.Context, id uuid.UUID, p storage.ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error) {
	return releaseLease(ctx, t.tx, id, p)
}

func (t *runTx) ReleaseHolderConcurrencyLeases(ctx context.Context, holder apitype.ConcurrencyLeaseHolder, limitIDs []uuid.UUID, p storage.ConcurrencyReleaseParams) (int, error) {
	leases, err := queryLeases(ctx, t.tx, `holder_type = $1 AND holder_id = $2 AND EXISTS (
		SELECT 1 FROM jsonb_array_elements_text(resource_ids) AS r(id) WHERE r.id = ANY($3::text[]))`,
		`ORDER BY id FOR UPDATE`, holder.Type, holder.ID, nonNil(storage.UUIDStrings(limitIDs)))
	if err != nil {
		return 0, err
	}
	return releaseLeases(ctx, t.tx, leases, p)
}

// lockTagLimit reads one v1 limit FOR UPDATE (already locked when the
// engine read it; re-locking in the same transaction is free).
func (t *runTx) lockTagLimit(ctx context.Context, tag string) (*apitype.ConcurrencyLimit, error) {
	l, err := scanTagLimit(t.tx.QueryRow(ctx, `SELECT `+tagLimitColumns+` FROM concurrency_limit WHERE tag = $1 FOR UPDATE`, tag))
	if err != nil {
		return nil, fmt.Errorf("get tag limit: %w", err)
	}
	return l, nil
}

func (t *runTx) setTagSlots(ctx context.Context, id uuid.UUID, slots []uuid.UUID, now time.Time) error {
	return execOne(ctx, t.tx, "set tag slots", `UPDATE concurrency_limit SET active_slots = $1::jsonb, updated = $2 WHERE id = $3`,
		storage.JSONList(storage.UUIDStrings(slots)), storage.DBTime(now), id)
}

func (t *runTx) AddTagConcurrencySlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (bool, error) {
	l, err := t.lockTagLimit(ctx, tag)
	if err != nil {
		return false, err
	}
	if slices.Contains(l.ActiveSlots, taskRunID) {
		return true, nil
	}
	if len(l.ActiveSlots) >= l.ConcurrencyLimit {
		return false, nil
	}
	return true, t.setTagSlots(ctx, l.ID, append(l.ActiveSlots, taskRunID), now)
}

func (t *runTx) RemoveTagConcurrencySlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) error {
	l, err := t.lockTagLimit(ctx, tag)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	i := slices.Index(l.ActiveSlots, taskRunID)
	if i < 0 {
		return nil
	}
	return t.setTagSlots(ctx, l.ID, slices.Delete(l.ActiveSlots, i, i+1), now)
}
