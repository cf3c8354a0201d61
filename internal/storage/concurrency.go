package storage

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// ConcurrencyStore persists v2 concurrency limits, their leases and v1 tag
// limits. Leases live in the database (not in memory, as in Prefect's
// default) so that several replicas on one PostgreSQL share them.
//
// Slot counts are stored as of the row's `updated` time; readers and writers
// decay them to the `now` they are given (see DecayedActiveSlots). Every
// method that changes slots runs in one transaction that locks the limit
// rows it touches in id order, so concurrent increments never over-grant.
type ConcurrencyStore interface {
	// ConcurrencyLimitV2Create returns ErrConflict when the name is taken.
	ConcurrencyLimitV2Create(ctx context.Context, p *ConcurrencyLimitV2CreateParams) (*apitype.ConcurrencyLimitV2, error)
	// ConcurrencyLimitV2Get reads a limit by id or name with ActiveSlots
	// decayed to now; ErrNotFound when absent.
	ConcurrencyLimitV2Get(ctx context.Context, key LimitKey, now time.Time) (*apitype.ConcurrencyLimitV2, error)
	// ConcurrencyLimitV2List pages limits by name, ActiveSlots decayed to now.
	ConcurrencyLimitV2List(ctx context.Context, p *ConcurrencyLimitV2ListParams) ([]apitype.ConcurrencyLimitV2, error)
	// ConcurrencyLimitV2Update returns ErrNotFound when absent, ErrConflict on
	// a rename onto a taken name.
	ConcurrencyLimitV2Update(ctx context.Context, key LimitKey, u *apitype.ConcurrencyLimitV2Update, now time.Time) error
	// ConcurrencyLimitV2Delete deletes a limit, and every lease over it when
	// revokeLeases is set; ErrNotFound when absent.
	ConcurrencyLimitV2Delete(ctx context.Context, key LimitKey, revokeLeases bool) error

	// ConcurrencySlotsIncrement takes slots on every active limit named, all
	// or nothing. Bad requests are ErrSlotsExceedLimit or *RateLimitDecayError
	// (nothing written); a full limit is Acquired=false with denied_slots
	// recorded.
	ConcurrencySlotsIncrement(ctx context.Context, p *ConcurrencyIncrementParams) (*ConcurrencyIncrementResult, error)
	// ConcurrencySlotsDecrement frees slots on the active limits named (never
	// below zero) and returns every limit found.
	ConcurrencySlotsDecrement(ctx context.Context, p *ConcurrencyDecrementParams) ([]apitype.ConcurrencyLimitV2, error)

	ConcurrencyLeaseGet(ctx context.Context, id uuid.UUID) (*apitype.ConcurrencyLease, error)
	// ConcurrencyLeaseRenew moves the expiration of a lease that has not
	// expired at now; ErrNotFound otherwise.
	ConcurrencyLeaseRenew(ctx context.Context, id uuid.UUID, expiration, now time.Time) error
	// ConcurrencyLeaseRelease deletes the lease and frees its slots, recording
	// its occupancy; it returns the lease, or ErrNotFound when already gone.
	ConcurrencyLeaseRelease(ctx context.Context, id uuid.UUID, p ConcurrencyReleaseParams) (*apitype.ConcurrencyLease, error)
	// ConcurrencyLeasesReleaseByHolder releases (as ConcurrencyLeaseRelease)
	// every lease of holder that covers any of limitIDs; it returns how many.
	ConcurrencyLeasesReleaseByHolder(ctx context.Context, holder apitype.ConcurrencyLeaseHolder, limitIDs []uuid.UUID, p ConcurrencyReleaseParams) (int, error)
	// ConcurrencyLeasesExpire releases up to batch leases that expired before
	// now, in one transaction, and returns how many. Replicas running it at
	// the same time never release a lease twice.
	ConcurrencyLeasesExpire(ctx context.Context, now time.Time, batch int, waits ConcurrencyWaits) (int, error)
	// ConcurrencyLeaseHolders lists the unexpired leases with a holder that
	// cover the limit, oldest first.
	ConcurrencyLeaseHolders(ctx context.Context, limitID uuid.UUID, now time.Time) ([]apitype.ConcurrencyLease, error)
	// ConcurrencyLimitV2ResetSlots revokes every lease over the limit and
	// sets its active slots to len(holders), giving each task run holder a
	// one-slot lease until expiration. ErrNotFound when absent.
	ConcurrencyLimitV2ResetSlots(ctx context.Context, id uuid.UUID, holders []uuid.UUID, expiration, now time.Time) error

	// TagConcurrencyLimitCreate creates a v1 limit; ErrConflict when the tag is taken.
	TagConcurrencyLimitCreate(ctx context.Context, p *TagConcurrencyLimitCreateParams) (*apitype.ConcurrencyLimit, error)
	// TagConcurrencyLimitGet reads a v1 limit by id or tag (LimitKey.Name).
	TagConcurrencyLimitGet(ctx context.Context, key LimitKey) (*apitype.ConcurrencyLimit, error)
	// TagConcurrencyLimitList pages v1 limits by tag; limit <= 0 means all.
	TagConcurrencyLimitList(ctx context.Context, limit, offset int) ([]apitype.ConcurrencyLimit, error)
	// TagConcurrencyLimitsByTags returns the v1 limits of these tags that exist.
	TagConcurrencyLimitsByTags(ctx context.Context, tags []string) ([]apitype.ConcurrencyLimit, error)
	TagConcurrencyLimitDelete(ctx context.Context, key LimitKey) error
	// TagConcurrencyLimitSetSlots replaces active_slots (reset).
	TagConcurrencyLimitSetSlots(ctx context.Context, tag string, slots []uuid.UUID, now time.Time) error
	// TagConcurrencyLimitAddSlot records the task run in active_slots unless
	// the limit is full; added reports whether it holds a slot afterwards.
	TagConcurrencyLimitAddSlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (added bool, err error)
	// TagConcurrencyLimitRemoveSlot removes the task run; removed reports
	// whether it held a slot.
	TagConcurrencyLimitRemoveSlot(ctx context.Context, tag string, taskRunID uuid.UUID, now time.Time) (removed bool, err error)
}

// LimitKey selects a limit by ID, or by Name (v2 name or v1 tag) when ID is nil.
type LimitKey struct {
	ID   uuid.UUID
	Name string
}

// Errors of ConcurrencySlotsIncrement that are the caller's fault.
var ErrSlotsExceedLimit = errors.New("slots requested is greater than the limit")

// RateLimitDecayError lists the limits without slot decay named in a
// rate_limit increment.
type RateLimitDecayError struct{ Names []string }

func (e *RateLimitDecayError) Error() string {
	return "limits without slot decay used for rate limiting"
}

// ConcurrencyLimitV2CreateParams creates a v2 limit. ID is generated by the caller.
type ConcurrencyLimitV2CreateParams struct {
	ID                 uuid.UUID
	Name               string
	Limit              int
	Active             bool
	ActiveSlots        int
	DeniedSlots        int
	SlotDecayPerSecond float64
	Now                time.Time
}

// ConcurrencyLimitV2ListParams pages limits ordered by name. Names, when
// non-nil, restricts the list to those names. Limit <= 0 means no limit.
type ConcurrencyLimitV2ListParams struct {
	Names  []string
	Limit  int
	Offset int
	Now    time.Time
}

// ConcurrencyWaits are the caps Prefect applies to slot occupancy when it
// decays denied slots (and computes Retry-After). Zero fields take Prefect's
// defaults.
type ConcurrencyWaits struct {
	MaxSlotWait time.Duration // server.concurrency.maximum_concurrency_slot_wait_seconds (30s)
	TagSlotWait time.Duration // server.tasks.tag_concurrency_slot_wait_seconds (10s)
}

// ConcurrencyLeaseParams asks an increment to record a lease over the slots.
type ConcurrencyLeaseParams struct {
	ID         uuid.UUID
	Expiration time.Time
	Holder     *apitype.ConcurrencyLeaseHolder
}

// ConcurrencyIncrementParams takes Slots slots on each limit in Names.
type ConcurrencyIncrementParams struct {
	Names []string
	Slots int
	Mode  string // apitype.ConcurrencyMode*; "" is concurrency
	// Lease, when set, records a lease once the slots are taken (only when
	// some active limit was incremented).
	Lease *ConcurrencyLeaseParams
	Waits ConcurrencyWaits
	Now   time.Time
}

// ConcurrencyIncrementResult reports an increment. Limits are every limit
// found (active or not) as stored before the increment.
type ConcurrencyIncrementResult struct {
	Limits   []apitype.ConcurrencyLimitV2
	Acquired bool
	// LeaseCreated reports that Lease was recorded.
	LeaseCreated bool
}

// ConcurrencyDecrementParams frees Slots slots on each limit in Names.
// OccupancySeconds > 0 feeds the limit's average slot occupancy.
type ConcurrencyDecrementParams struct {
	Names            []string
	Slots            int
	OccupancySeconds float64
	Waits            ConcurrencyWaits
	Now              time.Time
}

// ConcurrencyReleaseParams tunes a lease release. RecordOccupancy feeds the
// time the lease was held into the limits' average slot occupancy.
type ConcurrencyReleaseParams struct {
	RecordOccupancy bool
	Waits           ConcurrencyWaits
	Now             time.Time
}

// TagConcurrencyLimitCreateParams creates a v1 tag limit.
type TagConcurrencyLimitCreateParams struct {
	ID    uuid.UUID
	Tag   string
	Limit int
	Now   time.Time
}
