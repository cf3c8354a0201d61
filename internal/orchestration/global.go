package orchestration

import (
	"context"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// Global transforms: Prefect's bookkeeping, run on every transition after
// the policy rules. Each does nothing once the transition is nullified.

func isRunning(s *apitype.State) bool   { return s != nil && s.Type == apitype.StateTypeRunning }
func isScheduled(s *apitype.State) bool { return s != nil && s.Type == apitype.StateTypeScheduled }
func isFinal(s *apitype.State) bool     { return s != nil && s.Type.IsTerminal() }

// onProposed wraps a before hook that needs a non-nil proposed state.
func onProposed(f func(ctx context.Context, c *Context) error) hook {
	return func(ctx context.Context, c *Context) error {
		if c.Proposed == nil {
			return nil
		}
		return f(ctx, c)
	}
}

// newEnsureFlowRunStateTimestampIsUnique moves the proposed timestamp past
// any state of the run already at that instant: (flow_run_id, timestamp) is
// unique and coarse clocks can collide.
func newEnsureFlowRunStateTimestampIsUnique() Rule {
	return transform("EnsureFlowRunStateTimestampIsUnique", onProposed(func(ctx context.Context, c *Context) error {
		ts := c.Proposed.Timestamp
		for {
			taken, err := c.Lookup.FlowRunStateTimestampTaken(ctx, c.Run.ID, ts)
			if err != nil {
				return err
			}
			if !taken {
				break
			}
			ts = ts.Add(time.Microsecond)
		}
		c.Proposed.Timestamp = ts
		return nil
	}), nil)
}

func newSetRunStateType() Rule {
	return transform("SetRunStateType", onProposed(func(_ context.Context, c *Context) error {
		c.Run.StateType = c.Proposed.Type
		return nil
	}), nil)
}

func newSetRunStateName() Rule {
	return transform("SetRunStateName", onProposed(func(_ context.Context, c *Context) error {
		c.Run.StateName = c.Proposed.Name
		return nil
	}), nil)
}

func newSetRunStateTimestamp() Rule {
	return transform("SetRunStateTimestamp", onProposed(func(_ context.Context, c *Context) error {
		c.Run.StateTimestamp = ptr(c.Proposed.Timestamp)
		return nil
	}), nil)
}

// newSetStartTime records the first time the run enters RUNNING.
func newSetStartTime() Rule {
	return transform("SetStartTime", onProposed(func(_ context.Context, c *Context) error {
		if isRunning(c.Proposed) && c.Run.StartTime == nil {
			c.Run.StartTime = ptr(c.Proposed.Timestamp)
		}
		return nil
	}), nil)
}

// newSetEndTime records entering a terminal state and clears the end time
// when a (forced) transition leaves one. A run failing before it ever ran
// gets its start time too.
func newSetEndTime() Rule {
	return transform("SetEndTime", onProposed(func(_ context.Context, c *Context) error {
		if isFinal(c.Initial) && !isFinal(c.Proposed) {
			c.Run.EndTime = nil
		}
		if isFinal(c.Proposed) && c.Run.EndTime == nil {
			if c.Run.StartTime == nil {
				c.Run.StartTime = ptr(c.Proposed.Timestamp)
			}
			c.Run.EndTime = ptr(c.Proposed.Timestamp)
		}
		return nil
	}), nil)
}

// newIncrementRunTime adds the time spent in the RUNNING state being left.
func newIncrementRunTime() Rule {
	return transform("IncrementRunTime", onProposed(func(_ context.Context, c *Context) error {
		if isRunning(c.Initial) {
			c.Run.TotalRunTime += c.Proposed.Timestamp.Sub(c.Initial.Timestamp)
		}
		return nil
	}), nil)
}

// newSetExpectedStartTime sets the expected start once: the scheduled time
// of a scheduled state, else the state's timestamp.
func newSetExpectedStartTime() Rule {
	return transform("SetExpectedStartTime", onProposed(func(_ context.Context, c *Context) error {
		if c.Run.ExpectedStartTime != nil {
			return nil
		}
		if isScheduled(c.Proposed) {
			c.Run.ExpectedStartTime = clonePtr(c.Proposed.StateDetails.ScheduledTime)
		} else {
			c.Run.ExpectedStartTime = ptr(c.Proposed.Timestamp)
		}
		return nil
	}), nil)
}

// newSetNextScheduledStartTime tracks the scheduled time while SCHEDULED.
func newSetNextScheduledStartTime() Rule {
	return transform("SetNextScheduledStartTime", onProposed(func(_ context.Context, c *Context) error {
		if isScheduled(c.Initial) {
			c.Run.NextScheduledStartTime = nil
		}
		if isScheduled(c.Proposed) {
			c.Run.NextScheduledStartTime = clonePtr(c.Proposed.StateDetails.ScheduledTime)
		}
		return nil
	}), nil)
}

// newUpdateStateDetails points the new state at its run.
func newUpdateStateDetails() Rule {
	return transform("UpdateStateDetails", onProposed(func(_ context.Context, c *Context) error {
		d := &c.Proposed.StateDetails
		if c.Kind == FlowRunKind {
			d.FlowRunID = ptr(c.Run.ID)
			return nil
		}
		d.FlowRunID = clonePtr(c.Run.FlowRunID)
		d.TaskRunID = ptr(c.Run.ID)
		return nil
	}), nil)
}

// newUpdateSubflowParentTask mirrors every state of a subflow onto its
// tracking task run in the parent flow, as a forced task run transition.
func newUpdateSubflowParentTask() Rule {
	return transform("UpdateSubflowParentTask", nil, func(_ context.Context, c *Context) error {
		if c.Proposed == nil || c.Run.ParentTaskRunID == nil || c.Validated == nil {
			return nil
		}
		st := c.Validated.FreshCopy(c.newID(), c.Now)
		st.StateDetails.ChildFlowRunID = ptr(c.Run.ID)
		c.Emit(SetTaskRunState{TaskRunID: *c.Run.ParentTaskRunID, State: st, Force: true})
		return nil
	})
}

// newUpdateSubflowStateDetails links a subflow's states to its tracking task.
func newUpdateSubflowStateDetails() Rule {
	return transform("UpdateSubflowStateDetails", onProposed(func(_ context.Context, c *Context) error {
		if c.Run.ParentTaskRunID != nil {
			c.Proposed.StateDetails.TaskRunID = clonePtr(c.Run.ParentTaskRunID)
		}
		return nil
	}), nil)
}

// newIncrementFlowRunCount counts entries into RUNNING, except the one that
// resumes a paused run (same attempt).
func newIncrementFlowRunCount() Rule {
	return transform("IncrementFlowRunCount", onProposed(func(_ context.Context, c *Context) error {
		if !isRunning(c.Proposed) {
			return nil
		}
		if c.apiVersionAtLeast("0.8.4") && c.Run.FlowPolicy.Resuming {
			return nil
		}
		c.Run.RunCount++
		return nil
	}), nil)
}

// newRemoveResumingIndicator clears "resuming" once the run runs or ends.
func newRemoveResumingIndicator() Rule {
	return transform("RemoveResumingIndicator", onProposed(func(_ context.Context, c *Context) error {
		if c.apiVersionAtLeast("0.8.4") && (isRunning(c.Proposed) || isFinal(c.Proposed)) {
			c.Run.FlowPolicy.Resuming = false
		}
		return nil
	}), nil)
}

// newIncrementTaskRunCount counts a task run's entries into RUNNING.
func newIncrementTaskRunCount() Rule {
	return transform("IncrementTaskRunCount", onProposed(func(_ context.Context, c *Context) error {
		if isRunning(c.Proposed) {
			c.Run.RunCount++
		}
		return nil
	}), nil)
}
