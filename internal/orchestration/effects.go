package orchestration

import (
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Effect is a write a rule asks the caller to perform in the orchestration
// transaction, after inserting the new state and updating the run. The set is
// closed: switch on the concrete types below.
type Effect interface{ effect() }

// InsertCacheEntry records a task run state in the task_run_state_cache.
type InsertCacheEntry struct {
	CacheKey        string
	CacheExpiration *time.Time
	StateID         uuid.UUID
}

// SetTaskRunState orchestrates State onto a task run (the tracking task of a
// subflow) with the task policies; Force selects MinimalTaskPolicy.
type SetTaskRunState struct {
	TaskRunID uuid.UUID
	State     *apitype.State
	Force     bool
}

// EmitFlowRunStateChange emits the prefect.flow-run.<state name> event.
// Initial is nil for a run's first state. The caller truncates long messages.
type EmitFlowRunStateChange struct {
	FlowRunID uuid.UUID
	Initial   *apitype.State
	Validated *apitype.State
}

// DeleteFlowRunInput deletes a stored flow run input by key.
type DeleteFlowRunInput struct {
	FlowRunID uuid.UUID
	Key       string
}

// EnqueueBackgroundTask pushes a deferred task run to the scheduled-task
// queue for its task key; Retry selects the retry queue.
type EnqueueBackgroundTask struct {
	TaskRunID uuid.UUID
	TaskKey   string
	Retry     bool
}

// IncrementSlots takes Slots slots on each v2 limit. The engine decided on a
// locked snapshot, so failure to increment means the snapshot was stale.
type IncrementSlots struct {
	LimitIDs []uuid.UUID
	Slots    int
}

// DecrementSlots frees Slots slots on each v2 limit (never below zero).
type DecrementSlots struct {
	LimitIDs []uuid.UUID
	Slots    int
}

// LeaseHolder identifies who holds a concurrency lease.
type LeaseHolder struct {
	Type string // "flow_run" or "task_run"
	ID   uuid.UUID
}

// CreateLease records a concurrency lease over slots already incremented.
type CreateLease struct {
	LeaseID    uuid.UUID
	LimitIDs   []uuid.UUID
	Slots      int
	Expiration time.Time
	Holder     *LeaseHolder
}

// RenewLease moves a live lease's expiration.
type RenewLease struct {
	LeaseID    uuid.UUID
	Expiration time.Time
}

// RevokeLease deletes a lease without touching slots.
type RevokeLease struct{ LeaseID uuid.UUID }

// ReleaseLease frees the slots a lease holds and revokes it. When the lease
// is gone, one slot is freed on each FallbackLimitIDs instead.
type ReleaseLease struct {
	LeaseID          uuid.UUID
	FallbackLimitIDs []uuid.UUID
}

// ReleaseHolderLeases releases (as ReleaseLease) every lease held by Holder
// on any of LimitIDs.
type ReleaseHolderLeases struct {
	Holder   LeaseHolder
	LimitIDs []uuid.UUID
}

// AddTagSlot records TaskRunID in a v1 tag limit's active_slots.
type AddTagSlot struct {
	Tag       string
	TaskRunID uuid.UUID
}

// RemoveTagSlot removes TaskRunID from a v1 tag limit's active_slots.
type RemoveTagSlot struct {
	Tag       string
	TaskRunID uuid.UUID
}

func (InsertCacheEntry) effect()       {}
func (SetTaskRunState) effect()        {}
func (EmitFlowRunStateChange) effect() {}
func (DeleteFlowRunInput) effect()     {}
func (EnqueueBackgroundTask) effect()  {}
func (IncrementSlots) effect()         {}
func (DecrementSlots) effect()         {}
func (CreateLease) effect()            {}
func (RenewLease) effect()             {}
func (RevokeLease) effect()            {}
func (ReleaseLease) effect()           {}
func (ReleaseHolderLeases) effect()    {}
func (AddTagSlot) effect()             {}
func (RemoveTagSlot) effect()          {}
