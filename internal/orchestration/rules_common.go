package orchestration

import (
	"context"
	"fmt"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// Rules shared by flow and task policies.

// newCopyScheduledTime carries the scheduled time of a SCHEDULED state into
// the PENDING state that follows, unless the proposal brings its own.
func newCopyScheduledTime() Rule {
	return &rule{
		name: "CopyScheduledTime",
		from: setOf(apitype.StateTypeScheduled),
		to:   setOf(apitype.StateTypePending),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			if c.Proposed.StateDetails.ScheduledTime == nil {
				c.Proposed.StateDetails.ScheduledTime = clonePtr(c.Initial.StateDetails.ScheduledTime)
			}
			return nil
		},
	}
}

// newWaitForScheduledTime makes a run that tries to start before its
// scheduled time (by the server's clock) wait until then.
func newWaitForScheduledTime() Rule {
	return &rule{
		name: "WaitForScheduledTime",
		from: setOf(apitype.StateTypeScheduled, apitype.StateTypePending),
		to:   setOf(apitype.StateTypeRunning),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil || c.Initial.StateDetails.ScheduledTime == nil {
				return nil
			}
			if d := delaySeconds(c.Initial.StateDetails.ScheduledTime.Sub(c.Now)); d > 0 {
				c.Wait(d, "Scheduled time is in the future")
			}
			return nil
		},
	}
}

// delaySeconds rounds a delay to whole seconds the way Prefect does: the
// floor of the seconds plus the fraction rounded half-to-even.
func delaySeconds(d time.Duration) int {
	micros := d.Microseconds()
	secs := micros / 1e6
	if micros%1e6 < 0 {
		secs--
	}
	if frac := micros - secs*1e6; frac > 500_000 {
		secs++
	}
	return int(secs)
}

// newRenameReruns names a RUNNING state "Retrying" after AwaitingRetry, or
// "Rerunning", when the run has run before.
func newRenameReruns() Rule {
	return &rule{
		name: "RenameReruns",
		from: allStates(),
		to:   setOf(apitype.StateTypeRunning),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil || c.Run.RunCount <= 0 {
				return nil
			}
			if c.Initial.Name == apitype.StateNameAwaitingRetry {
				c.Rename(apitype.StateNameRetrying)
			} else {
				c.Rename(apitype.StateNameRerunning)
			}
			return nil
		},
	}
}

// newPreventPendingTransitions is the double-submission guard: a second
// worker proposing PENDING for a run that is already PENDING, RUNNING,
// CANCELLING or CANCELLED is aborted. Moving between named PENDING
// sub-states (Pending → Submitting → InfrastructurePending) stays allowed.
func newPreventPendingTransitions() Rule {
	return &rule{
		name: "PreventPendingTransitions",
		from: setOf(apitype.StateTypePending, apitype.StateTypeCancelling, apitype.StateTypeRunning, apitype.StateTypeCancelled),
		to:   setOf(apitype.StateTypePending),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			if c.Initial.Type == apitype.StateTypePending && c.Initial.Name != c.Proposed.Name &&
				c.Proposed.Name != apitype.StateNamePending {
				// Keep what earlier rules stored on the first PENDING state.
				c.Proposed.StateDetails.ScheduledTime = clonePtr(c.Initial.StateDetails.ScheduledTime)
				c.Proposed.StateDetails.DeploymentConcurrencyLeaseID = clonePtr(c.Initial.StateDetails.DeploymentConcurrencyLeaseID)
				return nil
			}
			c.Abort(fmt.Sprintf("This run is in a %s state and cannot transition to a PENDING state.", c.Initial.Type))
			return nil
		},
	}
}
