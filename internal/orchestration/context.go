package orchestration

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Context is the transition being governed, shared by every rule and
// transform of one orchestration. Rules edit Proposed and Run in place and
// decide through Reject, Wait and Abort.
type Context struct {
	Kind      RunKind
	Run       *Run
	Initial   *apitype.State // current state, nil for a run without one
	Proposed  *apitype.State // nil once a rule nullified the transition
	Validated *apitype.State // set between the entry and exit hooks

	// APIVersion is the request's X-PREFECT-API-VERSION ("" = latest);
	// ClientVersion the Prefect version parsed from its User-Agent.
	APIVersion    string
	ClientVersion string

	Status  apitype.SetStateStatus
	Details apitype.StateResponseDetails

	// Now is the instant of this orchestration; every rule uses it.
	Now    time.Time
	Lookup Lookup
	Config Config

	newID   func() uuid.UUID
	current *step
	effects []ownedEffect
}

type ownedEffect struct {
	owner   *step
	onEntry bool
	effect  Effect
}

// errNoStateToKeep mirrors Prefect's OrchestrationError: a reject that keeps
// the current state needs a current state.
var errNoStateToKeep = errors.New("the current run has no state; this transition cannot be rejected without providing a new state")

// Reject refuses the proposed state. With a non-nil state the client is told
// to adopt it (and it is written); with nil the current state is kept.
func (c *Context) Reject(state *apitype.State, reason string) error {
	if state == nil && c.Initial == nil {
		return errNoStateToKeep
	}
	c.Proposed = state
	c.retarget()
	c.Status = apitype.SetStateStatusReject
	c.Details = apitype.RejectDetails(reason)
	return nil
}

// Wait nullifies the transition and tells the client to retry it after
// delaySeconds.
func (c *Context) Wait(delaySeconds int, reason string) {
	c.Proposed = nil
	c.retarget()
	c.Status = apitype.SetStateStatusWait
	c.Details = apitype.WaitDetails(delaySeconds, reason)
}

// Abort nullifies the transition and tells the client to stop orchestrating
// this run.
func (c *Context) Abort(reason string) {
	c.Proposed = nil
	c.retarget()
	c.Status = apitype.SetStateStatusAbort
	c.Details = apitype.AbortDetails(reason)
}

// Rename sets the proposed state's name; the type, and so the transition the
// rules govern, is unchanged.
func (c *Context) Rename(name string) {
	if c.Proposed != nil {
		c.Proposed.Name = name
	}
}

// Emit queues an effect for the caller. Effects emitted on entry by a rule
// that later fizzles are discarded.
func (c *Context) Emit(e Effect) {
	c.effects = append(c.effects, ownedEffect{owner: c.current, onEntry: c.current != nil && !c.current.exiting, effect: e})
}

// NewState builds a server-minted state stamped with the orchestration time.
// An empty name takes the type's default.
func (c *Context) NewState(t apitype.StateType, name string) *apitype.State {
	if name == "" {
		name = t.DefaultName()
	}
	s := &apitype.State{ID: c.newID(), Type: t, Name: name, Timestamp: c.Now}
	if t == apitype.StateTypeScheduled {
		s.StateDetails.ScheduledTime = ptr(c.Now)
	}
	return s
}

// NewID returns a fresh (v7) id.
func (c *Context) NewID() uuid.UUID { return c.newID() }

// retarget records that the running rule changed the transition itself, so
// it neither fizzles nor is treated as invalid (Prefect updates the rule's
// own to_state_type).
func (c *Context) retarget() {
	if c.current != nil {
		c.current.to = typeOf(c.Proposed)
	}
}

// InitialType is the current state's type, "" when there is none.
func (c *Context) InitialType() apitype.StateType { return typeOf(c.Initial) }

// ProposedType is the proposed state's type, "" when nullified.
func (c *Context) ProposedType() apitype.StateType { return typeOf(c.Proposed) }

// apiVersionAtLeast reports whether the request's API version is at least v;
// a missing version means the latest.
func (c *Context) apiVersionAtLeast(v string) bool {
	return c.APIVersion == "" || compareVersions(c.APIVersion, v) >= 0
}

// flowRun returns the enclosing flow run of a task run (nil when none).
func (c *Context) flowRun(ctx context.Context) (*FlowRunSnapshot, error) {
	if c.Kind != TaskRunKind || c.Run.FlowRunID == nil {
		return nil, nil
	}
	return c.Lookup.FlowRun(ctx, *c.Run.FlowRunID)
}

func typeOf(s *apitype.State) apitype.StateType {
	if s == nil {
		return ""
	}
	return s.Type
}
