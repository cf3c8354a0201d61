package orchestration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// Rules specific to flow runs.

// newPreventDuplicateTransitions makes a retried request idempotent: a
// proposal carrying the transition_id of the current state is rejected and
// the client gets the current state back.
func newPreventDuplicateTransitions() Rule {
	return &rule{
		name: "PreventDuplicateTransitions",
		from: allStates(),
		to:   allStates(),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			a, b := c.Initial.StateDetails.TransitionID, c.Proposed.StateDetails.TransitionID
			if a != nil && b != nil && *a == *b {
				return c.Reject(nil, "This run has already made this state transition.")
			}
			return nil
		},
	}
}

// newHandleFlowTerminalStateTransitions guards leaving a terminal state:
// never to CANCELLING/PAUSED/CRASHED, never away from a persisted COMPLETED
// result, never rescheduled without a deployment. A manual rerun resets the
// pause bookkeeping.
func newHandleFlowTerminalStateTransitions() Rule {
	var original FlowRunPolicy
	return &rule{
		name: "HandleFlowTerminalStateTransitions",
		from: terminalStates(),
		to:   allStates(),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			original = c.Run.Clone().FlowPolicy
			init, prop := c.Initial, c.Proposed
			switch prop.Type {
			case apitype.StateTypeCancelling, apitype.StateTypePaused, apitype.StateTypeCrashed:
				c.Abort(fmt.Sprintf("Run is already in terminal state %s.", init.Type))
				return nil
			}
			completed := init.Type == apitype.StateTypeCompleted && init.HasPersistedResult()
			if completed && !isFinal(prop) {
				return c.Reject(nil, "Run is already COMPLETED.")
			}
			if completed && prop.Type == apitype.StateTypeCompleted && !apitype.DataIsPersistedResult(prop.Data) {
				return c.Reject(nil, "Cannot overwrite a COMPLETED state that carries persisted result data with one that does not.")
			}
			if isScheduled(prop) && c.Run.DeploymentID == nil {
				c.Abort("Cannot reschedule a run without an associated deployment.")
				return nil
			}
			if !isFinal(prop) && c.apiVersionAtLeast("0.8.4") {
				p := &c.Run.FlowPolicy
				p.Resuming = false
				p.PauseKeys = []string{}
				p.RetryType = nil
				if isScheduled(prop) {
					p.RetryType = ptr(RetryTypeReschedule)
				}
			}
			return nil
		},
		cleanup: func(_ context.Context, c *Context) error {
			c.Run.FlowPolicy = original
			return nil
		},
	}
}

// newPreventResultDataLoss keeps a persisted COMPLETED result from being
// overwritten by a terminal state without one, even when forced.
func newPreventResultDataLoss() Rule {
	return &rule{
		name: "PreventResultDataLoss",
		from: terminalStates(),
		to:   terminalStates(),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			if c.Initial.Type == apitype.StateTypeCompleted && c.Proposed.Type == apitype.StateTypeCompleted &&
				c.Initial.HasPersistedResult() && !apitype.DataIsPersistedResult(c.Proposed.Data) {
				return c.Reject(nil, "Cannot overwrite a COMPLETED state that carries persisted result data with one that does not.")
			}
			return nil
		},
	}
}

// newEnforceCancellingToCancelledTransition: a CANCELLING run may only
// become CANCELLED.
func newEnforceCancellingToCancelledTransition() Rule {
	return &rule{
		name: "EnforceCancellingToCancelledTransition",
		from: setOf(apitype.StateTypeCancelling),
		to:   allStatesExcept(apitype.StateTypeCancelled),
		before: func(_ context.Context, c *Context) error {
			return c.Reject(nil, "Cannot transition flows that are cancelling to a state other than Cancelled.")
		},
	}
}

// newBypassCancellingFlowRunsWithNoInfra cancels directly when there is no
// infrastructure to tear down: scheduled runs without an infrastructure pid,
// runs Resuming from a suspension, and suspended runs.
func newBypassCancellingFlowRunsWithNoInfra() Rule {
	return &rule{
		name: "BypassCancellingFlowRunsWithNoInfra",
		from: setOf(apitype.StateTypeScheduled, apitype.StateTypePaused),
		to:   setOf(apitype.StateTypeCancelling),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			noInfra := c.Run.InfrastructurePID == nil || *c.Run.InfrastructurePID == ""
			switch {
			case (isScheduled(c.Initial) && noInfra) || c.Initial.Name == apitype.StateNameResuming:
				return c.Reject(c.NewState(apitype.StateTypeCancelled, ""), "Scheduled flow run has no infrastructure to terminate.")
			case c.Initial.Type == apitype.StateTypePaused && c.Initial.StateDetails.PauseReschedule:
				return c.Reject(c.NewState(apitype.StateTypeCancelled, ""), "Suspended flow run has no infrastructure to terminate.")
			}
			return nil
		},
	}
}

// newEnsureOnlyScheduledFlowsMarkedLate: only a SCHEDULED run not yet Late
// can be marked Late.
func newEnsureOnlyScheduledFlowsMarkedLate() Rule {
	return &rule{
		name: "EnsureOnlyScheduledFlowsMarkedLate",
		from: allStates(),
		to:   setOf(apitype.StateTypeScheduled),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil || c.Proposed.Name != apitype.StateNameLate {
				return nil
			}
			if !isScheduled(c.Initial) {
				return c.Reject(nil, "Only scheduled flows can be marked late.")
			}
			if c.Initial.Name == apitype.StateNameLate {
				return c.Reject(nil, "This flow run is already marked late.")
			}
			return nil
		},
	}
}

func pauseVerb(s *apitype.State) string {
	if s.Name == apitype.StateNameSuspended {
		return "suspend"
	}
	return "pause"
}

// newHandlePausingFlows governs RUNNING → PAUSED: each pause key fires once
// per attempt, and suspending (pause_reschedule) needs a deployment and a
// top-level run. Inputs left under the pause's keyset by an earlier attempt
// are deleted.
func newHandlePausingFlows() Rule {
	var key string
	return &rule{
		name: "HandlePausingFlows",
		from: allStates(),
		to:   setOf(apitype.StateTypePaused),
		before: func(_ context.Context, c *Context) error {
			if c.Proposed == nil {
				return nil
			}
			verb := pauseVerb(c.Proposed)
			if c.Initial == nil {
				c.Abort(fmt.Sprintf("Cannot %s flows with no state.", verb))
				return nil
			}
			if !isRunning(c.Initial) {
				return c.Reject(nil, fmt.Sprintf("Cannot %s flows that are not currently running.", verb))
			}
			if k := c.Proposed.StateDetails.PauseKey; k != nil {
				key = *k
			} else {
				key = c.newID().String()
			}
			if slices.Contains(c.Run.FlowPolicy.PauseKeys, key) {
				return c.Reject(nil, fmt.Sprintf("This %s has already fired.", verb))
			}
			if c.Proposed.StateDetails.PauseReschedule {
				if c.Run.ParentTaskRunID != nil {
					c.Abort(fmt.Sprintf("Cannot %s subflows.", verb))
					return nil
				}
				if c.Run.DeploymentID == nil {
					c.Abort(fmt.Sprintf("Cannot %s flows without a deployment.", verb))
					return nil
				}
			}
			return nil
		},
		after: func(_ context.Context, c *Context) error {
			// Prefect also runs this after its own rejections (and crashes
			// when no key was chosen); recording a key only for an actual
			// pause is the intended behaviour.
			if key == "" || c.Validated == nil || c.Validated.Type != apitype.StateTypePaused {
				return nil
			}
			if !slices.Contains(c.Run.FlowPolicy.PauseKeys, key) {
				c.Run.FlowPolicy.PauseKeys = append(c.Run.FlowPolicy.PauseKeys, key)
			}
			keyset := c.Validated.StateDetails.RunInputKeyset
			for _, name := range slices.Sorted(maps.Keys(keyset)) {
				c.Emit(DeleteFlowRunInput{FlowRunID: c.Run.ID, Key: keyset[name]})
			}
			return nil
		},
	}
}

// newHandleResumingPausedFlows governs leaving PAUSED: only to RUNNING,
// SCHEDULED, CANCELLING or a terminal state; a suspended run needs a
// deployment; past pause_timeout the run fails instead of resuming.
func newHandleResumingPausedFlows() Rule {
	return &rule{
		name: "HandleResumingPausedFlows",
		from: setOf(apitype.StateTypePaused),
		to:   allStates(),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			init, prop := c.Initial, c.Proposed
			if !(isRunning(prop) || isScheduled(prop) || prop.Type == apitype.StateTypeCancelling || isFinal(prop)) {
				return c.Reject(nil, fmt.Sprintf("This run cannot transition to the %s state from the %s state.", prop.Type, init.Type))
			}
			verb := pauseVerb(prop)
			display := strings.ToLower(prop.Name)
			if display == "" {
				display = strings.ToLower(string(prop.Type))
			}
			if init.StateDetails.PauseReschedule && c.Run.DeploymentID == nil {
				return c.Reject(nil, fmt.Sprintf("Cannot reschedule a %s flow run without a deployment.", display))
			}
			if prop.Type == apitype.StateTypeCancelling {
				// A blocking pause keeps its process alive: cancellation must
				// reach it even after the pause deadline.
				return nil
			}
			if t := init.StateDetails.PauseTimeout; t != nil && t.Before(c.Now) {
				failed := c.NewState(apitype.StateTypeFailed, "")
				failed.Message = ptr(fmt.Sprintf("The flow was %s and never resumed.", display))
				return c.Reject(failed, fmt.Sprintf("The flow run %s has timed out and can no longer resume.", verb))
			}
			return nil
		},
		after: func(_ context.Context, c *Context) error {
			p := &c.Run.FlowPolicy
			if c.Initial != nil && !c.Initial.StateDetails.PauseReschedule && isScheduled(c.Validated) &&
				c.apiVersionAtLeast("0.8.4") {
				// Leaving a blocking pause for SCHEDULED starts a new attempt
				// from the top, so its pauses must fire again.
				p.Resuming = false
				p.PauseKeys = []string{}
				p.RetryType = ptr(RetryTypeReschedule)
				return nil
			}
			p.Resuming = true
			return nil
		},
	}
}

// newRetryFailedFlows turns RUNNING → FAILED into AwaitingRetry while the
// run has retries left; the run keeps its deployment concurrency lease
// across the in-process retry.
func newRetryFailedFlows() Rule {
	return &rule{
		name: "RetryFailedFlows",
		from: setOf(apitype.StateTypeRunning),
		to:   setOf(apitype.StateTypeFailed),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			p := &c.Run.FlowPolicy
			if p.Retries == nil || c.Run.RunCount > *p.Retries {
				// Out of retries: allow later infrastructure-level retries.
				p.RetryType = nil
				return nil
			}
			delay := 0
			if p.RetryDelay != nil {
				delay = *p.RetryDelay
			}
			if c.apiVersionAtLeast("0.8.4") {
				p.Resuming = false
				p.PauseKeys = []string{}
				p.RetryType = ptr(RetryTypeInProcess)
			}
			retry := awaitingRetry(c, c.Now.Add(time.Duration(delay)*time.Second))
			retry.StateDetails.DeploymentConcurrencyLeaseID = clonePtr(c.Initial.StateDetails.DeploymentConcurrencyLeaseID)
			return c.Reject(retry, "Retrying")
		},
	}
}

// awaitingRetry builds the AwaitingRetry state that replaces a failure,
// carrying its message and data.
func awaitingRetry(c *Context, at time.Time) *apitype.State {
	s := c.NewState(apitype.StateTypeScheduled, apitype.StateNameAwaitingRetry)
	s.StateDetails.ScheduledTime = ptr(at)
	s.Message = clonePtr(c.Proposed.Message)
	if c.Proposed.Data != nil {
		s.Data = append(s.Data, c.Proposed.Data...)
	}
	return s
}

// newInstrumentFlowRunStateTransitions emits the flow-run state event for
// every state actually written.
func newInstrumentFlowRunStateTransitions() Rule {
	return transform("InstrumentFlowRunStateTransitions", nil, func(_ context.Context, c *Context) error {
		if c.Proposed == nil || c.Validated == nil || c.Kind != FlowRunKind {
			return nil
		}
		c.Emit(EmitFlowRunStateChange{FlowRunID: c.Run.ID, Initial: c.Initial.Clone(), Validated: c.Validated.Clone()})
		return nil
	})
}
