package apitype

import (
	"time"

	"github.com/google/uuid"
)

// Concurrency limit modes of the v2 increment endpoints.
const (
	ConcurrencyModeConcurrency = "concurrency"
	ConcurrencyModeRateLimit   = "rate_limit"
)

// Lease holder types (Prefect's ConcurrencyLeaseHolder.type).
const (
	LeaseHolderFlowRun    = "flow_run"
	LeaseHolderTaskRun    = "task_run"
	LeaseHolderDeployment = "deployment"
)

// TagLimitPrefix names the v2 limit backing a task tag: "tag:<tag>".
const TagLimitPrefix = "tag:"

// ConcurrencyLimitV2 is Prefect's ConcurrencyLimitV2 (the create response and
// the full stored row).
type ConcurrencyLimitV2 struct {
	ID                      uuid.UUID `json:"id"`
	Created                 time.Time `json:"created"`
	Updated                 time.Time `json:"updated"`
	Active                  bool      `json:"active"`
	Name                    string    `json:"name"`
	Limit                   int       `json:"limit"`
	ActiveSlots             int       `json:"active_slots"`
	DeniedSlots             int       `json:"denied_slots"`
	SlotDecayPerSecond      float64   `json:"slot_decay_per_second"`
	AvgSlotOccupancySeconds float64   `json:"avg_slot_occupancy_seconds"`
}

// GlobalConcurrencyLimitResponse is what reads of v2 limits return; active
// slots are decayed to the time of the read.
type GlobalConcurrencyLimitResponse struct {
	ID                 uuid.UUID `json:"id"`
	Created            time.Time `json:"created"`
	Updated            time.Time `json:"updated"`
	Active             bool      `json:"active"`
	Name               string    `json:"name"`
	Limit              int       `json:"limit"`
	ActiveSlots        int       `json:"active_slots"`
	SlotDecayPerSecond float64   `json:"slot_decay_per_second"`
}

// Response projects a stored limit onto the read response.
func (l *ConcurrencyLimitV2) Response() GlobalConcurrencyLimitResponse {
	return GlobalConcurrencyLimitResponse{
		ID: l.ID, Created: l.Created, Updated: l.Updated, Active: l.Active, Name: l.Name,
		Limit: l.Limit, ActiveSlots: l.ActiveSlots, SlotDecayPerSecond: l.SlotDecayPerSecond,
	}
}

// Minimal projects a stored limit onto MinimalConcurrencyLimitResponse.
func (l *ConcurrencyLimitV2) Minimal() MinimalConcurrencyLimitResponse {
	return MinimalConcurrencyLimitResponse{ID: l.ID, Name: l.Name, Limit: l.Limit}
}

// ConcurrencyLimitV2Create is the body of POST /v2/concurrency_limits/.
type ConcurrencyLimitV2Create struct {
	Active             *bool    `json:"active,omitempty"`
	Name               string   `json:"name"`
	Limit              int      `json:"limit"`
	ActiveSlots        *int     `json:"active_slots,omitempty"`
	DeniedSlots        *int     `json:"denied_slots,omitempty"`
	SlotDecayPerSecond *float64 `json:"slot_decay_per_second,omitempty"`
}

// ConcurrencyLimitV2Update is the body of PATCH /v2/concurrency_limits/{id_or_name}.
// Nil fields are left unchanged.
type ConcurrencyLimitV2Update struct {
	Active             *bool    `json:"active,omitempty"`
	Name               *string  `json:"name,omitempty"`
	Limit              *int     `json:"limit,omitempty"`
	ActiveSlots        *int     `json:"active_slots,omitempty"`
	DeniedSlots        *int     `json:"denied_slots,omitempty"`
	SlotDecayPerSecond *float64 `json:"slot_decay_per_second,omitempty"`
}

// MinimalConcurrencyLimitResponse is returned by the increment/decrement endpoints.
type MinimalConcurrencyLimitResponse struct {
	ID    uuid.UUID `json:"id"`
	Name  string    `json:"name"`
	Limit int       `json:"limit"`
}

// ConcurrencyLimitWithLeaseResponse answers POST /v2/concurrency_limits/increment-with-lease.
type ConcurrencyLimitWithLeaseResponse struct {
	LeaseID uuid.UUID                         `json:"lease_id"`
	Limits  []MinimalConcurrencyLimitResponse `json:"limits"`
}

// ConcurrencyLeaseHolder identifies who holds a lease.
type ConcurrencyLeaseHolder struct {
	Type string    `json:"type"`
	ID   uuid.UUID `json:"id"`
}

// ConcurrencyLease is a lease over slots of one or more v2 limits
// (Prefect's ResourceLease with ConcurrencyLimitLeaseMetadata).
type ConcurrencyLease struct {
	ID          uuid.UUID               `json:"id"`
	ResourceIDs []uuid.UUID             `json:"resource_ids"`
	Slots       int                     `json:"slots"`
	Holder      *ConcurrencyLeaseHolder `json:"holder,omitempty"`
	Expiration  time.Time               `json:"expiration"`
	Created     time.Time               `json:"created_at"`
}

// ConcurrencyLimit is Prefect's v1 (tag) ConcurrencyLimit.
type ConcurrencyLimit struct {
	ID               uuid.UUID   `json:"id"`
	Created          time.Time   `json:"created"`
	Updated          time.Time   `json:"updated"`
	Tag              string      `json:"tag"`
	ConcurrencyLimit int         `json:"concurrency_limit"`
	ActiveSlots      []uuid.UUID `json:"active_slots"`
}

// ConcurrencyLimitCreate is the body of POST /concurrency_limits/.
type ConcurrencyLimitCreate struct {
	Tag              string `json:"tag"`
	ConcurrencyLimit int    `json:"concurrency_limit"`
}
