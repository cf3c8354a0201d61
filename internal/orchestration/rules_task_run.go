package orchestration

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/warden-orchestration/warden/apitype"
)

// Rules specific to task runs.

// newCacheRetrieval answers a RUNNING proposal carrying a cache key with the
// cached COMPLETED state, renamed "Cached", unless refresh_cache is set.
func newCacheRetrieval() Rule {
	return &rule{
		name: "CacheRetrieval",
		from: allStates(),
		to:   setOf(apitype.StateTypeRunning),
		before: func(ctx context.Context, c *Context) error {
			if c.Proposed == nil {
				return nil
			}
			d := c.Proposed.StateDetails
			if d.CacheKey == nil || *d.CacheKey == "" || (d.RefreshCache != nil && *d.RefreshCache) {
				return nil
			}
			cached, err := c.Lookup.CachedTaskRunState(ctx, *d.CacheKey, c.Now)
			if err != nil || cached == nil {
				return err
			}
			st := cached.FreshCopy(c.newID(), c.Now)
			st.Name = apitype.StateNameCached
			return c.Reject(st, "Retrieved state from cache")
		},
	}
}

// newCacheInsertion caches COMPLETED states that carry a cache key, and
// refuses keys over the configured length.
func newCacheInsertion() Rule {
	tooLong := func(c *Context, key *string) bool {
		return key != nil && utf8.RuneCountInString(*key) > c.Config.MaxCacheKeyLength
	}
	return &rule{
		name: "CacheInsertion",
		from: allStates(),
		to:   setOf(apitype.StateTypeCompleted),
		before: func(_ context.Context, c *Context) error {
			if c.Proposed == nil || !tooLong(c, c.Proposed.StateDetails.CacheKey) {
				return nil
			}
			return c.Reject(c.Proposed, fmt.Sprintf("Cache key exceeded maximum allowed length of %d characters.", c.Config.MaxCacheKeyLength))
		},
		after: func(_ context.Context, c *Context) error {
			if c.Validated == nil {
				return nil
			}
			d := c.Validated.StateDetails
			// Prefect inserts even the over-long key it just rejected; a cache
			// entry nobody may look up is pointless, so it is skipped here.
			if d.CacheKey == nil || *d.CacheKey == "" || tooLong(c, d.CacheKey) {
				return nil
			}
			c.Emit(InsertCacheEntry{CacheKey: *d.CacheKey, CacheExpiration: clonePtr(d.CacheExpiration), StateID: c.Validated.ID})
			return nil
		},
	}
}

// newHandleTaskTerminalStateTransitions guards leaving a terminal state:
// never to CANCELLING/PAUSED/CRASHED, never away from a persisted COMPLETED
// result. Going back to a non-terminal state resets run_count so retries
// restart, and RUNNING in a retried flow run is named "Retrying".
func newHandleTaskTerminalStateTransitions() Rule {
	var originalRunCount int
	return &rule{
		name: "HandleTaskTerminalStateTransitions",
		from: terminalStates(),
		to:   allStates(),
		before: func(ctx context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			originalRunCount = c.Run.RunCount
			switch c.Proposed.Type {
			case apitype.StateTypeCancelling, apitype.StateTypePaused, apitype.StateTypeCrashed:
				c.Abort(fmt.Sprintf("Run is already %s.", c.Initial.Type))
				return nil
			}
			if c.Initial.Type == apitype.StateTypeCompleted && c.Initial.HasPersistedResult() {
				return c.Reject(nil, "This run is already completed.")
			}
			if !isFinal(c.Proposed) {
				c.Run.RunCount = 0
			}
			if isRunning(c.Proposed) && c.Run.FlowRunID != nil {
				fr, err := c.flowRun(ctx)
				if err != nil {
					return err
				}
				if fr != nil && c.Run.FlowRunRunCount < fr.RunCount {
					c.Rename(apitype.StateNameRetrying)
				}
			}
			return nil
		},
		cleanup: func(_ context.Context, c *Context) error {
			c.Run.RunCount = originalRunCount
			return nil
		},
	}
}

// newPreventRunningTasksFromStoppedFlows: tasks run only while their flow
// run runs. A paused flow run answers NotReady (keeping its pause details);
// any other non-running flow run aborts the task.
func newPreventRunningTasksFromStoppedFlows() Rule {
	return &rule{
		name: "PreventRunningTasksFromStoppedFlows",
		from: allStates(),
		to:   setOf(apitype.StateTypeRunning),
		before: func(ctx context.Context, c *Context) error {
			fr, err := c.flowRun(ctx)
			if err != nil || fr == nil {
				return err
			}
			const notRunning = "The enclosing flow must be running to begin task execution."
			switch {
			case fr.State == nil:
				c.Abort(notRunning)
			case fr.State.Type == apitype.StateTypePaused:
				st := c.NewState(apitype.StateTypePaused, apitype.StateNameNotReady)
				st.StateDetails.PauseTimeout = clonePtr(fr.State.StateDetails.PauseTimeout)
				st.StateDetails.PauseReschedule = fr.State.StateDetails.PauseReschedule
				return c.Reject(st, fmt.Sprintf("The flow is paused, new tasks can execute after resuming flow run: %s.", fr.ID))
			case fr.State.Type != apitype.StateTypeRunning:
				c.Abort(notRunning)
			}
			return nil
		},
	}
}

// newRetryFailedTasks turns RUNNING → FAILED into AwaitingRetry while the
// task has retries left and the client did not mark the failure
// non-retriable. Delays may be a list indexed by attempt, with jitter.
func newRetryFailedTasks() Rule {
	return &rule{
		name: "RetryFailedTasks",
		from: setOf(apitype.StateTypeRunning),
		to:   setOf(apitype.StateTypeFailed),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			p := c.Run.TaskPolicy
			if r := c.Proposed.StateDetails.Retriable; r != nil && !*r {
				return nil
			}
			if p.Retries == nil || c.Run.RunCount > *p.Retries {
				return nil
			}
			delay := taskRetryDelay(p, c.Run.RunCount)
			if f := p.RetryJitterFactor; f != nil && *f > 0 && delay > 0 {
				delay = clampedPoissonInterval(delay, *f, c.Config.Rand)
			}
			at := c.Now.Add(time.Duration(delay * float64(time.Second)))
			return c.Reject(awaitingRetry(c, at), "Retrying")
		},
	}
}

// taskRetryDelay picks the delay for this attempt: list entries are used in
// turn and the last one repeats.
func taskRetryDelay(p TaskRunPolicy, runCount int) float64 {
	n := len(p.RetryDelay)
	if n == 0 {
		return 0
	}
	i := min(runCount-1, n-1)
	if i < 0 {
		i += n // Python's negative index: the last entry
	}
	return p.RetryDelay[max(i, 0)]
}

// clampedPoissonInterval draws an exponential variate around avg, bounded
// to avg*(1+factor) above and a matching bound below so the mean stays
// about avg: Prefect's jitter for retries and slot waits.
func clampedPoissonInterval(avg, factor float64, rnd func() float64) float64 {
	if avg <= 0 || factor <= 0 {
		return math.Max(avg, 0)
	}
	upper := avg * (1 + factor)
	lower := math.Max(0, avg*lowerClampMultiple(1+factor))
	cdf := func(x float64) float64 { return 1 - math.Exp(-x/avg) }
	lo, hi := cdf(lower), cdf(upper)
	u := lo + (hi-lo)*rnd()
	return -math.Log(math.Max(1-u, 1e-10)) * avg
}

func lowerClampMultiple(k float64) float64 {
	if k >= 50 {
		return 0
	}
	return math.Log2(math.Max(math.Pow(2, k)/(math.Pow(2, k)-1), 1e-10))
}

// newUpdateFlowRunTrackerOnTasks records which flow run attempt the task
// ran in, so a flow retry can tell fresh task runs from stale ones.
func newUpdateFlowRunTrackerOnTasks() Rule {
	return &rule{
		name: "UpdateFlowRunTrackerOnTasks",
		from: allStates(),
		to:   setOf(apitype.StateTypeRunning),
		after: func(ctx context.Context, c *Context) error {
			if c.Run.FlowRunID == nil {
				return nil
			}
			fr, err := c.flowRun(ctx)
			if err != nil {
				return err
			}
			if fr == nil {
				return fmt.Errorf("read flow run %s of task run %s: %w", *c.Run.FlowRunID, c.Run.ID, ErrFlowRunNotFound)
			}
			c.Run.FlowRunRunCount = fr.RunCount
			return nil
		},
	}
}

// ErrFlowRunNotFound is returned when a task run's flow run has vanished.
var ErrFlowRunNotFound = errors.New("flow run not found")

// newCopyTaskParametersID carries task_parameters_id forward for background
// tasks (SCHEDULED → PENDING → RUNNING).
func newCopyTaskParametersID() Rule {
	return &rule{
		name: "CopyTaskParametersID",
		from: setOf(apitype.StateTypeScheduled, apitype.StateTypePending),
		to:   setOf(apitype.StateTypePending, apitype.StateTypeRunning),
		before: func(_ context.Context, c *Context) error {
			if c.Initial == nil || c.Proposed == nil {
				return nil
			}
			if c.Proposed.StateDetails.TaskParametersID == nil {
				c.Proposed.StateDetails.TaskParametersID = clonePtr(c.Initial.StateDetails.TaskParametersID)
			}
			return nil
		},
	}
}

// newEnqueueScheduledTasks hands scheduled deferred task runs to the task
// worker queue (the retry queue for AwaitingRetry).
func newEnqueueScheduledTasks() Rule {
	return &rule{
		name: "EnqueueScheduledTasks",
		from: allStates(),
		to:   setOf(apitype.StateTypeScheduled),
		after: func(_ context.Context, c *Context) error {
			if c.Validated == nil || !c.Validated.StateDetails.Deferred {
				return nil
			}
			c.Emit(EnqueueBackgroundTask{
				TaskRunID: c.Run.ID,
				TaskKey:   c.Run.TaskKey,
				Retry:     c.Validated.Name == apitype.StateNameAwaitingRetry,
			})
			return nil
		},
	}
}
