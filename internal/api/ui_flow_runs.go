package api

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/storage"
)

// flowRunLatenessRoutes registers /flow_runs/lateness, the dashboard's
// average lateness.
func (a *app) flowRunLatenessRoutes(route route) {
	route("POST", "/flow_runs/lateness", a.flowRunLateness)
}

// uiHistoryMaxLimit is the cap and default of /ui/flow_runs/history's limit
// (not server.api.default_limit: the chart draws up to 1000 bars).
const uiHistoryMaxLimit = 1000

// uiFlowRunHistory lists the runs of the UI's run history chart.
func (a *app) uiFlowRunHistory(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeRunQuery(r, "flow runs", apitype.FlowRunSorts)
	if err != nil {
		return err
	}
	limit, offset := uiHistoryMaxLimit, 0
	if q.Limit != nil {
		limit = *q.Limit
	}
	if q.Offset != nil {
		offset = *q.Offset
	}
	// Prefect reports every bad bound at once. It has no lower bound on the
	// limit (PostgreSQL then fails with a 500); Warden says 422.
	var bad []ValidationDetail
	for _, err := range []error{checkMax(raw, "limit", limit, uiHistoryMaxLimit), checkMin(raw, "limit", limit, 0),
		checkMin(raw, "offset", offset, 0)} {
		if e, ok := err.(*Error); ok {
			bad = append(bad, e.Body.(validationBody).ExceptionDetail...)
		}
	}
	if len(bad) > 0 {
		return errValidation(echoBody(raw), bad...)
	}
	out := []apitype.SimpleFlowRun{}
	if limit == 0 {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	sort := apitype.FlowRunSortExpectedStartTimeDesc
	if q.Sort != nil {
		sort = *q.Sort
	}
	runs, err := a.store.FlowRunSimpleList(r.Context(), &storage.RunListParams{RunQuery: *q.storage(), Sort: sort,
		Limit: limit, Offset: offset})
	if err != nil {
		return fmt.Errorf("list flow run history: %w", err)
	}
	now := a.now().UTC()
	for _, fr := range runs {
		run := orchestration.Run{StateType: fr.StateType, StateTimestamp: fr.StateTimestamp, StartTime: fr.StartTime,
			ExpectedStartTime: fr.ExpectedStartTime, TotalRunTime: fr.TotalRunTime}
		ts := fr.ExpectedStartTime
		if fr.StartTime != nil {
			ts = fr.StartTime
		}
		out = append(out, apitype.SimpleFlowRun{ID: fr.ID, StateType: fr.StateType, Timestamp: *ts,
			Duration: run.EstimatedRunTime(now).Seconds(), Lateness: run.EstimatedStartTimeDelta(now).Seconds()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// uiFlowRunCountTaskRuns counts each flow run's task runs, leaving out the
// task runs that only track a subflow.
func (a *app) uiFlowRunCountTaskRuns(w http.ResponseWriter, r *http.Request) error {
	ids, err := decodeIDList(r, "flow_run_ids")
	if err != nil {
		return err
	}
	counts, err := a.store.TaskRunCountsByFlowRun(r.Context(), ids)
	if err != nil {
		return fmt.Errorf("count task runs by flow run: %w", err)
	}
	return writeIDMap(w, ids, func(id uuid.UUID) int64 { return counts[id] })
}

// flowRunLateness is the mean lateness in seconds of the matching flow
// runs, null when none match.
func (a *app) flowRunLateness(w http.ResponseWriter, r *http.Request) error {
	q, _, err := decodeRunQuery(r, "flow runs", apitype.FlowRunSorts)
	if err != nil {
		return err
	}
	avg, err := a.store.FlowRunAverageLateness(r.Context(), q.storage(), a.now().UTC())
	if err != nil {
		return fmt.Errorf("average flow run lateness: %w", err)
	}
	writeJSON(w, http.StatusOK, avg)
	return nil
}
