package storage

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// ConcurrencyTx is the part of RunTx the orchestration engine's concurrency
// rules use: they decide on limit rows locked for the rest of the run's
// transaction, then take or free slots and leases in that same transaction,
// so a set_state never grants a slot twice and a rolled-back transition
// never holds one.
//
// Locks: SQLite's single writer already excludes every other writer;
// PostgreSQL locks the rows FOR UPDATE in a fixed order (v2 limits by id,
// v1 limits by tag), the order every other slot writer uses.
type ConcurrencyTx interface {
	// LockConcurrencyLimitsByName returns the v2 limits with these names that
	// exist, locked, in id order, as stored (ActiveSlots not decayed).
	LockConcurrencyLimitsByName(ctx context.Context, names []string) ([]apitype.ConcurrencyLimitV2, error)
	// LockTagConcurrencyLimits returns the v1 limits of these tags that
	// exist, locked, in tag order.
	LockTagConcurrencyLimits(ctx context.Context, tags []string) ([]apitype.ConcurrencyLimit, error)
	// ConcurrencyLeaseActive reports whether the lease exists and expires
	// after now.
	ConcurrencyLeaseActive(ctx context.Context, id uuid.UUID, now time.Time) (bool, error)

	// IncrementConcurrencySlots takes slots on every active limit with these
	// ids, all or nothing (PlanIncrement). granted=false writes nothing.
	IncrementConcurrencySlots(ctx context.Context, ids []uuid.UUID, slots int, now time.Time, w ConcurrencyWaits) (granted bool, err error)
	// DecrementConcurrencySlots frees slots on the active limits with these
	// ids, never below zero; missing ids are ignored.
	DecrementConcurrencySlots(ctx context.Context, ids []uuid.UUID, slots int, now time.Time, w ConcurrencyWaits) error
	// CreateConcurrencyLease records a lease over slots already taken.
	CreateConcurrencyLease(ctx context.Context, l *apitype.ConcurrencyLease) error
	// RenewConcurrencyLease moves the expiration of a lease that has not
	// expired at now; ErrNotFound otherwise.
	RenewConcurrencyLease(ctx context.Context, id uuid.UUID, expiration, now time.Time) error
	// RevokeConcurrencyLease deletes a lease without freeing its slots;
	// absent is not an error.
	RevokeConcurrencyLease(ctx context.Context, id uuid.UUID) error
	// ReleaseConcurrencyLease deletes the lease and frees its slots; it
	// returns the lease, or ErrNotFound when already gone.
	ReleaseConcurrencyLease(ctx context.Context, id uuid.UUID, p ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error)
	// ReleaseHolderConcurrencyLeases releases every lease of holder covering
	// any of limitIDs and returns how many.
	ReleaseHolderConcurrencyLeases(ctx context.Context, holder apitype.ConcurrencyLeaseHolder, limitIDs []uuid.UUID, p ConcurrencyReleaseParams) (int, error)
	// AddTagConcurrencySlot records the task run in the v1 limit's
	// active_slots unless it is full; held reports whether the run holds a
	// slot afterwards. ErrNotFound when the tag has no limit.
	AddTagConcurrencySlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (held bool, err error)
	// RemoveTagConcurrencySlot removes the task run from the v1 limit's
	// active_slots; a missing limit or slot is not an error.
	RemoveTagConcurrencySlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) error
}
