package apitype

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
)

// StateType is Prefect's StateType enum.
type StateType string

// The nine Prefect state types.
const (
	StateTypeScheduled  StateType = "SCHEDULED"
	StateTypePending    StateType = "PENDING"
	StateTypeRunning    StateType = "RUNNING"
	StateTypeCompleted  StateType = "COMPLETED"
	StateTypeFailed     StateType = "FAILED"
	StateTypeCancelled  StateType = "CANCELLED"
	StateTypeCrashed    StateType = "CRASHED"
	StateTypePaused     StateType = "PAUSED"
	StateTypeCancelling StateType = "CANCELLING"
)

// StateTypes lists every state type in Prefect's declaration order.
var StateTypes = []StateType{
	StateTypeScheduled, StateTypePending, StateTypeRunning, StateTypeCompleted, StateTypeFailed,
	StateTypeCancelled, StateTypeCrashed, StateTypePaused, StateTypeCancelling,
}

// Valid reports whether t is one of the nine Prefect state types.
func (t StateType) Valid() bool {
	for _, v := range StateTypes {
		if t == v {
			return true
		}
	}
	return false
}

// IsTerminal reports whether t is one of Prefect's TERMINAL_STATES
// (COMPLETED, FAILED, CANCELLED, CRASHED).
func (t StateType) IsTerminal() bool {
	switch t {
	case StateTypeCompleted, StateTypeFailed, StateTypeCancelled, StateTypeCrashed:
		return true
	}
	return false
}

// DefaultName is the name Prefect gives a state created without one: the type
// capitalised ("RUNNING" → "Running").
func (t StateType) DefaultName() string {
	parts := strings.Split(strings.ToLower(string(t)), "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, " ")
}

// Named state variants. Clients and the server branch on these names, so they
// must match Prefect's spelling exactly.
const (
	StateNameLate                    = "Late"                    // SCHEDULED
	StateNameAwaitingRetry           = "AwaitingRetry"           // SCHEDULED
	StateNameAwaitingConcurrencySlot = "AwaitingConcurrencySlot" // SCHEDULED
	StateNameResuming                = "Resuming"                // SCHEDULED
	StateNamePending                 = "Pending"                 // PENDING (default)
	StateNameSubmitting              = "Submitting"              // PENDING
	StateNameInfrastructurePending   = "InfrastructurePending"   // PENDING
	StateNameRetrying                = "Retrying"                // RUNNING
	StateNameRerunning               = "Rerunning"               // RUNNING
	StateNameCached                  = "Cached"                  // COMPLETED
	StateNameSuspended               = "Suspended"               // PAUSED
	StateNameNotReady                = "NotReady"                // PAUSED
)

// StateDetails is Prefect's StateDetails. Nullable fields are pointers so they
// serialise as null exactly where Prefect emits null; the booleans Prefect
// defaults to false are plain bools.
type StateDetails struct {
	FlowRunID                    *uuid.UUID        `json:"flow_run_id"`
	TaskRunID                    *uuid.UUID        `json:"task_run_id"`
	ChildFlowRunID               *uuid.UUID        `json:"child_flow_run_id"`
	ScheduledTime                *time.Time        `json:"scheduled_time"`
	CacheKey                     *string           `json:"cache_key"`
	CacheExpiration              *time.Time        `json:"cache_expiration"`
	Deferred                     bool              `json:"deferred"`
	UntrackableResult            bool              `json:"untrackable_result"`
	PauseTimeout                 *time.Time        `json:"pause_timeout"`
	PauseReschedule              bool              `json:"pause_reschedule"`
	PauseKey                     *string           `json:"pause_key"`
	RunInputKeyset               map[string]string `json:"run_input_keyset"`
	RefreshCache                 *bool             `json:"refresh_cache"`
	Retriable                    *bool             `json:"retriable"`
	TransitionID                 *uuid.UUID        `json:"transition_id"`
	TaskParametersID             *uuid.UUID        `json:"task_parameters_id"`
	Traceparent                  *string           `json:"traceparent"`
	DeploymentConcurrencyLeaseID *uuid.UUID        `json:"deployment_concurrency_lease_id"`
}

// Clone returns a deep copy, so a rule editing one state never edits another.
func (d StateDetails) Clone() StateDetails {
	c := d
	c.FlowRunID = clonePtr(d.FlowRunID)
	c.TaskRunID = clonePtr(d.TaskRunID)
	c.ChildFlowRunID = clonePtr(d.ChildFlowRunID)
	c.ScheduledTime = clonePtr(d.ScheduledTime)
	c.CacheKey = clonePtr(d.CacheKey)
	c.CacheExpiration = clonePtr(d.CacheExpiration)
	c.PauseTimeout = clonePtr(d.PauseTimeout)
	c.PauseKey = clonePtr(d.PauseKey)
	c.RunInputKeyset = maps.Clone(d.RunInputKeyset)
	c.RefreshCache = clonePtr(d.RefreshCache)
	c.Retriable = clonePtr(d.Retriable)
	c.TransitionID = clonePtr(d.TransitionID)
	c.TaskParametersID = clonePtr(d.TaskParametersID)
	c.Traceparent = clonePtr(d.Traceparent)
	c.DeploymentConcurrencyLeaseID = clonePtr(d.DeploymentConcurrencyLeaseID)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// State is Prefect's State response schema. Data is opaque JSON (result-record
// metadata, never a result itself); nil serialises as null.
type State struct {
	ID           uuid.UUID       `json:"id"`
	Type         StateType       `json:"type"`
	Name         string          `json:"name"`
	Timestamp    time.Time       `json:"timestamp"`
	Message      *string         `json:"message"`
	Data         json.RawMessage `json:"data"`
	StateDetails StateDetails    `json:"state_details"`
}

// Clone returns a deep copy of s (nil stays nil).
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	if s.Data != nil {
		c.Data = append(json.RawMessage(nil), s.Data...)
	}
	c.Message = clonePtr(s.Message)
	c.StateDetails = s.StateDetails.Clone()
	return &c
}

// FreshCopy is Prefect's State.fresh_copy: the same state with a new id and
// timestamp.
func (s *State) FreshCopy(id uuid.UUID, now time.Time) *State {
	c := s.Clone()
	c.ID = id
	c.Timestamp = now
	return c
}

// HasPersistedResult reports whether the state carries result-record metadata
// of a persisted result: a non-empty JSON object whose "type" is not
// "unpersisted". Prefect tests the current state's data for truthiness first,
// hence "non-empty". Rules that protect completed results rely on this.
func (s *State) HasPersistedResult() bool {
	if s == nil {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(s.Data, &obj) != nil || len(obj) == 0 {
		return false
	}
	return DataIsPersistedResult(s.Data)
}

// DataIsPersistedResult reports whether data is a JSON object (even empty)
// whose "type" is not "unpersisted", Prefect's test for a proposed state.
func DataIsPersistedResult(data json.RawMessage) bool {
	var obj map[string]json.RawMessage
	if len(data) == 0 || json.Unmarshal(data, &obj) != nil || obj == nil {
		return false
	}
	var typ string
	if raw, ok := obj["type"]; ok && json.Unmarshal(raw, &typ) == nil && typ == "unpersisted" {
		return false
	}
	return true
}

// StateCreate is the state body of POST /flow_runs/{id}/set_state,
// /task_runs/{id}/set_state and run creation.
type StateCreate struct {
	Type         StateType       `json:"type"`
	Name         *string         `json:"name,omitempty"`
	Message      *string         `json:"message,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	StateDetails StateDetails    `json:"state_details"`
}

// ToState builds the full State Prefect validates a StateCreate into: the name
// defaults from the type and a SCHEDULED state without a scheduled_time is
// scheduled for now.
func (c StateCreate) ToState(id uuid.UUID, now time.Time) (*State, error) {
	if !c.Type.Valid() {
		return nil, fmt.Errorf("invalid state type %q", c.Type)
	}
	s := &State{
		ID:           id,
		Type:         c.Type,
		Name:         c.Type.DefaultName(),
		Timestamp:    now,
		Message:      clonePtr(c.Message),
		StateDetails: c.StateDetails.Clone(),
	}
	if c.Name != nil {
		s.Name = *c.Name
	}
	if len(c.Data) > 0 && string(c.Data) != "null" {
		s.Data = append(json.RawMessage(nil), c.Data...)
	}
	if s.Type == StateTypeScheduled && s.StateDetails.ScheduledTime == nil {
		s.StateDetails.ScheduledTime = &now
	}
	return s, nil
}

// SetStateBody is the body of POST /flow_runs/{id}/set_state and
// /task_runs/{id}/set_state.
type SetStateBody struct {
	State StateCreate `json:"state"`
	Force bool        `json:"force"`
}

// SetStateStatus is Prefect's SetStateStatus enum.
type SetStateStatus string

// Orchestration outcomes.
const (
	SetStateStatusAccept SetStateStatus = "ACCEPT"
	SetStateStatusReject SetStateStatus = "REJECT"
	SetStateStatusAbort  SetStateStatus = "ABORT"
	SetStateStatusWait   SetStateStatus = "WAIT"
)

// Details discriminators of OrchestrationResult.details.
const (
	DetailsTypeAccept = "accept_details"
	DetailsTypeReject = "reject_details"
	DetailsTypeAbort  = "abort_details"
	DetailsTypeWait   = "wait_details"
)

// StateResponseDetails is the union StateAcceptDetails | StateRejectDetails |
// StateAbortDetails | StateWaitDetails, discriminated by Type. It marshals
// only the fields the variant has, as Prefect does.
type StateResponseDetails struct {
	Type         string
	Reason       *string
	DelaySeconds int // wait_details only
}

// AcceptDetails returns {"type":"accept_details"}.
func AcceptDetails() StateResponseDetails {
	return StateResponseDetails{Type: DetailsTypeAccept}
}

// RejectDetails returns reject details with a reason.
func RejectDetails(reason string) StateResponseDetails {
	return StateResponseDetails{Type: DetailsTypeReject, Reason: &reason}
}

// AbortDetails returns abort details with a reason.
func AbortDetails(reason string) StateResponseDetails {
	return StateResponseDetails{Type: DetailsTypeAbort, Reason: &reason}
}

// WaitDetails returns wait details with a delay and reason.
func WaitDetails(delaySeconds int, reason string) StateResponseDetails {
	return StateResponseDetails{Type: DetailsTypeWait, DelaySeconds: delaySeconds, Reason: &reason}
}

type acceptDetailsJSON struct {
	Type string `json:"type"`
}

type reasonDetailsJSON struct {
	Type   string  `json:"type"`
	Reason *string `json:"reason"`
}

type waitDetailsJSON struct {
	Type         string  `json:"type"`
	DelaySeconds int     `json:"delay_seconds"`
	Reason       *string `json:"reason"`
}

// MarshalJSON emits the variant selected by Type.
func (d StateResponseDetails) MarshalJSON() ([]byte, error) {
	switch d.Type {
	case DetailsTypeAccept, "":
		return json.Marshal(acceptDetailsJSON{Type: DetailsTypeAccept})
	case DetailsTypeReject, DetailsTypeAbort:
		return json.Marshal(reasonDetailsJSON{Type: d.Type, Reason: d.Reason})
	case DetailsTypeWait:
		return json.Marshal(waitDetailsJSON{Type: d.Type, DelaySeconds: d.DelaySeconds, Reason: d.Reason})
	}
	return nil, fmt.Errorf("unknown state response details type %q", d.Type)
}

// UnmarshalJSON accepts any of the four variants.
func (d *StateResponseDetails) UnmarshalJSON(b []byte) error {
	var w waitDetailsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = StateResponseDetails{Type: w.Type, Reason: w.Reason, DelaySeconds: w.DelaySeconds}
	return nil
}

// OrchestrationResult is the response of the set_state endpoints.
type OrchestrationResult struct {
	State   *State               `json:"state"`
	Status  SetStateStatus       `json:"status"`
	Details StateResponseDetails `json:"details"`
}
