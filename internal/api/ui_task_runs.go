package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// dashboardBuckets is the number of bars of the dashboard's task run chart.
const dashboardBuckets = 20

// terminalStateTypes is Prefect's TERMINAL_STATES.
var terminalStateTypes = []apitype.StateType{apitype.StateTypeCompleted, apitype.StateTypeFailed,
	apitype.StateTypeCancelled, apitype.StateTypeCrashed}

// uiTaskRunDashboardCounts counts finished task runs in 20 equal buckets of
// start time, from task_runs.start_time.after_ (down to the minute) to the
// end of the minute of before_ (or of now). Failed and crashed runs are
// "failed", every other terminal run "completed".
func (a *app) uiTaskRunDashboardCounts(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeRunQuery(r, "task runs", taskRunSorts)
	if err != nil {
		return err
	}
	if q.TaskRuns == nil {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "task_runs"}, Type: "missing", Msg: "Field required"})
	}
	if q.TaskRuns.StartTime == nil || q.TaskRuns.StartTime.After == nil {
		return errDetail(http.StatusUnprocessableEntity, "task_runs.start_time.after_ is required")
	}
	// Like Prefect, the terminal-state criterion replaces any state filter
	// the request brought.
	q.TaskRuns.State = &apitype.FilterState{Type: &apitype.FilterStateType{Any: terminalStateTypes}}

	start := q.TaskRuns.StartTime.After.UTC().Truncate(time.Minute)
	end := a.now().UTC()
	if b := q.TaskRuns.StartTime.Before; b != nil {
		end = b.UTC()
	}
	end = end.Truncate(time.Minute).Add(time.Minute - time.Microsecond)
	out := make([]apitype.TaskRunCount, dashboardBuckets)
	width := bucketWidth(end.Sub(start), dashboardBuckets)
	if width <= 0 {
		// before_ is minutes earlier than after_: no run can match.
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	buckets, err := a.store.TaskRunStartBuckets(r.Context(), q.storage(), start, width, dashboardBuckets)
	if err != nil {
		return fmt.Errorf("count task runs by start time: %w", err)
	}
	for i, counts := range buckets {
		for typ, n := range counts {
			if typ == apitype.StateTypeFailed || typ == apitype.StateTypeCrashed {
				out[i].Failed += n
			} else {
				out[i].Completed += n
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// bucketWidth is window/n rounded to the microsecond, half to even, as
// Python's timedelta division rounds.
func bucketWidth(window time.Duration, n int) time.Duration {
	us := window.Microseconds()
	q, rem := us/int64(n), us%int64(n)
	if rem < 0 {
		q, rem = q-1, rem+int64(n)
	}
	if 2*rem > int64(n) || (2*rem == int64(n) && q%2 != 0) {
		q++
	}
	return time.Duration(q) * time.Microsecond
}

func (a *app) uiTaskRunCountByState(w http.ResponseWriter, r *http.Request) error {
	q, _, err := decodeRunQuery(r, "task runs", taskRunSorts)
	if err != nil {
		return err
	}
	counts, err := a.store.TaskRunCountsByState(r.Context(), q.storage())
	if err != nil {
		return fmt.Errorf("count task runs by state: %w", err)
	}
	writeJSON(w, http.StatusOK, apitype.CountByState{
		Completed: counts[apitype.StateTypeCompleted], Pending: counts[apitype.StateTypePending],
		Running: counts[apitype.StateTypeRunning], Failed: counts[apitype.StateTypeFailed],
		Cancelled: counts[apitype.StateTypeCancelled], Crashed: counts[apitype.StateTypeCrashed],
		Paused: counts[apitype.StateTypePaused], Cancelling: counts[apitype.StateTypeCancelling],
		Scheduled: counts[apitype.StateTypeScheduled],
	})
	return nil
}

// uiTaskRunGet is a task run with the name of its flow run.
func (a *app) uiTaskRunGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	tr, err := a.store.TaskRunGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Task not found")
	}
	if err != nil {
		return fmt.Errorf("read task run: %w", err)
	}
	out := apitype.UITaskRun{TaskRun: *a.presentTaskRun(tr)}
	if tr.FlowRunID != nil {
		fr, err := a.store.FlowRunGet(r.Context(), *tr.FlowRunID)
		switch {
		case err == nil:
			out.FlowRunName = &fr.Name
		case !errors.Is(err, storage.ErrNotFound): // deleted since: no name, as with Prefect's outer join
			return fmt.Errorf("read flow run: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
