package runstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Server-side concurrency in set_state: the engine's concurrency rules read
// limit rows the transaction has locked (txLookup) and return slot, lease
// and tag effects that applyConcurrency writes in the same transaction. A
// WAIT or ABORT writes nothing, so a blocked run never holds a slot.

// errConcurrencyChanged rolls back a transition whose slot effects no
// longer match the rows the engine decided on. The rows stay locked from
// the read to the write, so reaching it is a bug, never a full limit.
var errConcurrencyChanged = errors.New("concurrency limit changed during orchestration")

// DeploymentConcurrency reads the deployment's limit (locked for the rest
// of the transaction, like every limit the rules decide on) and its
// collision strategy; nil when the deployment does not exist, which the
// engine answers with "Deployment not found.".
func (l txLookup) DeploymentConcurrency(ctx context.Context, id uuid.UUID) (*orchestration.DeploymentConcurrency, error) {
	d, err := l.tx.LockDeploymentConcurrency(ctx, id)
	if err != nil || d == nil {
		return nil, err
	}
	out := &orchestration.DeploymentConcurrency{DeploymentID: d.DeploymentID}
	if d.Limit != nil {
		r := d.Limit
		out.ConcurrencyLimitID = &r.ID
		out.Limit = &orchestration.ConcurrencyLimit{ID: r.ID, Name: r.Name, Limit: r.Limit, Active: r.Active,
			ActiveSlots: storage.DecayedActiveSlots(r, l.now), AvgSlotOccupancySeconds: r.AvgSlotOccupancySeconds}
	}
	if o := d.Options; o != nil {
		out.CollisionStrategy = o.CollisionStrategy
		if o.GracePeriodSeconds != nil {
			g := int(*o.GracePeriodSeconds)
			out.GracePeriodSeconds = &g
		}
	}
	return out, nil
}

func (l txLookup) ConcurrencyLimitsByName(ctx context.Context, names []string) ([]orchestration.ConcurrencyLimit, error) {
	rows, err := l.tx.LockConcurrencyLimitsByName(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read concurrency limits: %w", err)
	}
	out := make([]orchestration.ConcurrencyLimit, len(rows))
	for i := range rows {
		r := &rows[i]
		out[i] = orchestration.ConcurrencyLimit{ID: r.ID, Name: r.Name, Limit: r.Limit, Active: r.Active,
			ActiveSlots: storage.DecayedActiveSlots(r, l.now), AvgSlotOccupancySeconds: r.AvgSlotOccupancySeconds}
	}
	return out, nil
}

func (l txLookup) TagConcurrencyLimits(ctx context.Context, tags []string) ([]orchestration.TagConcurrencyLimit, error) {
	rows, err := l.tx.LockTagConcurrencyLimits(ctx, tags)
	if err != nil {
		return nil, fmt.Errorf("read tag concurrency limits: %w", err)
	}
	out := make([]orchestration.TagConcurrencyLimit, len(rows))
	for i, r := range rows {
		out[i] = orchestration.TagConcurrencyLimit{Tag: r.Tag, Limit: r.ConcurrencyLimit, ActiveSlots: storage.UUIDStrings(r.ActiveSlots)}
	}
	return out, nil
}

func (l txLookup) LeaseActive(ctx context.Context, leaseID uuid.UUID, now time.Time) (bool, error) {
	return l.tx.ConcurrencyLeaseActive(ctx, leaseID, now)
}

// releaseParams: Prefect's orchestration releases do not feed the slot
// occupancy average (only the lease endpoints and the reaper do).
func (o *Orchestrator) releaseParams() storage.ConcurrencyReleaseParams {
	return storage.ConcurrencyReleaseParams{Waits: o.m.Waits, Now: o.now}
}

// applyConcurrency writes one slot, lease or tag effect. Storage's
// ErrNotFound never escapes: the set_state handlers read it as "no such run".
func (o *Orchestrator) applyConcurrency(ctx context.Context, e orchestration.Effect) error {
	switch e := e.(type) {
	case orchestration.IncrementSlots:
		granted, err := o.tx.IncrementConcurrencySlots(ctx, e.LimitIDs, e.Slots, o.now, o.m.Waits)
		if err != nil {
			return fmt.Errorf("take concurrency slots: %w", notFoundIsChange(err))
		}
		if !granted {
			return fmt.Errorf("%w: slots no longer free", errConcurrencyChanged)
		}
	case orchestration.DecrementSlots:
		if err := o.tx.DecrementConcurrencySlots(ctx, e.LimitIDs, e.Slots, o.now, o.m.Waits); err != nil {
			return fmt.Errorf("free concurrency slots: %w", notFoundIsChange(err))
		}
	case orchestration.CreateLease:
		l := &apitype.ConcurrencyLease{ID: e.LeaseID, ResourceIDs: e.LimitIDs, Slots: e.Slots, Expiration: e.Expiration, Created: o.now}
		if e.Holder != nil {
			l.Holder = &apitype.ConcurrencyLeaseHolder{Type: e.Holder.Type, ID: e.Holder.ID}
		}
		if err := o.tx.CreateConcurrencyLease(ctx, l); err != nil {
			return fmt.Errorf("create concurrency lease: %w", notFoundIsChange(err))
		}
	case orchestration.RenewLease:
		// The lease can expire between the engine's read and here; its
		// slots are then already free, as Prefect's renew of a gone lease.
		err := o.tx.RenewConcurrencyLease(ctx, e.LeaseID, e.Expiration, o.now)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("renew concurrency lease: %w", err)
		}
	case orchestration.RevokeLease:
		if err := o.tx.RevokeConcurrencyLease(ctx, e.LeaseID); err != nil {
			return fmt.Errorf("revoke concurrency lease: %w", notFoundIsChange(err))
		}
	case orchestration.ReleaseLease:
		_, err := o.tx.ReleaseConcurrencyLease(ctx, e.LeaseID, o.releaseParams())
		if errors.Is(err, storage.ErrNotFound) {
			// Gone (expired and reaped): free one slot on the fallback limits.
			err = o.tx.DecrementConcurrencySlots(ctx, e.FallbackLimitIDs, 1, o.now, o.m.Waits)
		}
		if err != nil {
			return fmt.Errorf("release concurrency lease: %w", notFoundIsChange(err))
		}
	case orchestration.ReleaseHolderLeases:
		holder := apitype.ConcurrencyLeaseHolder{Type: e.Holder.Type, ID: e.Holder.ID}
		if _, err := o.tx.ReleaseHolderConcurrencyLeases(ctx, holder, e.LimitIDs, o.releaseParams()); err != nil {
			return fmt.Errorf("release concurrency leases: %w", notFoundIsChange(err))
		}
	case orchestration.AddTagSlot:
		held, err := o.tx.AddTagConcurrencySlot(ctx, e.Tag, e.TaskRunID, o.now)
		if err != nil {
			return fmt.Errorf("take tag slot: %w", notFoundIsChange(err))
		}
		if !held {
			return fmt.Errorf("%w: tag %q is full", errConcurrencyChanged, e.Tag)
		}
	case orchestration.RemoveTagSlot:
		if err := o.tx.RemoveTagConcurrencySlot(ctx, e.Tag, e.TaskRunID, o.now); err != nil {
			return fmt.Errorf("free tag slot: %w", notFoundIsChange(err))
		}
	default:
		return fmt.Errorf("%w: %T", ErrUnsupportedEffect, e)
	}
	return nil
}

// notFoundIsChange keeps a vanished row from reading as a missing run.
func notFoundIsChange(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", errConcurrencyChanged, err.Error())
	}
	return err
}
