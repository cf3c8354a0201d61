package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/storage"
)

// runRoutes registers the flow run and task run routes.
func (a *app) runRoutes(route route) {
	a.flowRunRoutes(route)
	a.taskRunRoutes(route)
}

// runQuery is the body of the flow run and task run read endpoints.
// work_queues is the name some of them (history, the UI's task runs) give
// the work_pool_queues filter.
type runQuery struct {
	Flows          *apitype.FlowFilter       `json:"flows"`
	FlowRuns       *apitype.FlowRunFilter    `json:"flow_runs"`
	TaskRuns       *apitype.TaskRunFilter    `json:"task_runs"`
	Deployments    *apitype.DeploymentFilter `json:"deployments"`
	WorkPools      *apitype.WorkPoolFilter   `json:"work_pools"`
	WorkPoolQueues *apitype.WorkQueueFilter  `json:"work_pool_queues"`
	WorkQueues     *apitype.WorkQueueFilter  `json:"work_queues"`
	Sort           *string                   `json:"sort"`
	Limit          *int                      `json:"limit"`
	Offset         *int                      `json:"offset"`
	Page           *int                      `json:"page"`

	HistoryStart    *time.Time `json:"history_start"`
	HistoryEnd      *time.Time `json:"history_end"`
	HistoryInterval *float64   `json:"history_interval_seconds"`
}

func (q *runQuery) storage() *storage.RunQuery {
	queues := q.WorkPoolQueues
	if queues == nil {
		queues = q.WorkQueues
	}
	return &storage.RunQuery{Flows: q.Flows, FlowRuns: q.FlowRuns, TaskRuns: q.TaskRuns,
		Deployments: q.Deployments, WorkPools: q.WorkPools, WorkQueues: queues}
}

// decodeRunQuery decodes a read body; sorts lists the accepted sort values.
func decodeRunQuery(r *http.Request, what string, sorts []string) (*runQuery, []byte, error) {
	var q runQuery
	raw, err := decodeBody(r, &q, true)
	if err != nil {
		return nil, raw, err
	}
	if q.Sort != nil {
		if err := checkEnum(raw, "sort", *q.Sort, sorts...); err != nil {
			return nil, raw, err
		}
	}
	return &q, raw, nil
}

func (q *runQuery) sort() string {
	if q.Sort == nil {
		return apitype.FlowRunSortIDDesc
	}
	return *q.Sort
}

// maxHistoryIntervals is Prefect's cap on the number of history buckets.
const maxHistoryIntervals = 500

// runHistory answers /flow_runs/history and /task_runs/history.
func (a *app) runHistory(w http.ResponseWriter, r *http.Request, what string, sorts []string,
	read func(q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error)) error {
	q, raw, err := decodeRunQuery(r, what, sorts)
	if err != nil {
		return err
	}
	var missing []ValidationDetail
	for _, f := range []struct {
		name string
		ok   bool
	}{{"history_start", q.HistoryStart != nil}, {"history_end", q.HistoryEnd != nil}, {"history_interval_seconds", q.HistoryInterval != nil}} {
		if !f.ok {
			missing = append(missing, ValidationDetail{Loc: []any{"body", f.name}, Type: "missing", Msg: "Field required"})
		}
	}
	if len(missing) > 0 {
		return errValidation(echoBody(raw), missing...)
	}
	interval := time.Duration(*q.HistoryInterval * float64(time.Second))
	if interval < time.Second {
		return errDetail(http.StatusUnprocessableEntity, "History interval must not be less than 1 second.")
	}
	start, end := q.HistoryStart.UTC(), q.HistoryEnd.UTC()
	out := []apitype.HistoryResponse{}
	if !end.After(start) {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	n := int((end.Sub(start) + interval - 1) / interval)
	n = min(n, maxHistoryIntervals)
	runs, err := read(q.storage(), start, start.Add(time.Duration(n)*interval))
	if err != nil {
		return fmt.Errorf("%s history: %w", what, err)
	}
	writeJSON(w, http.StatusOK, buildHistory(runs, start, interval, n, a.now().UTC()))
	return nil
}

// buildHistory buckets runs by expected start time and sums Prefect's
// estimates (negative ones count as zero), per (state type, state name).
func buildHistory(runs []storage.HistoryRun, start time.Time, interval time.Duration, n int, now time.Time) []apitype.HistoryResponse {
	type key struct {
		typ  apitype.StateType
		name string
	}
	buckets := make([]map[key]*apitype.HistoryResponseState, n)
	for _, hr := range runs {
		i := int(hr.ExpectedStartTime.Sub(start) / interval)
		if i < 0 || i >= n {
			continue
		}
		if buckets[i] == nil {
			buckets[i] = map[key]*apitype.HistoryResponseState{}
		}
		k := key{hr.StateType, hr.StateName}
		s := buckets[i][k]
		if s == nil {
			s = &apitype.HistoryResponseState{StateType: hr.StateType, StateName: hr.StateName}
			buckets[i][k] = s
		}
		exp := hr.ExpectedStartTime
		run := orchestration.Run{StateType: hr.StateType, StateTimestamp: hr.StateTimestamp, StartTime: hr.StartTime,
			TotalRunTime: hr.TotalRunTime, ExpectedStartTime: &exp}
		s.CountRuns++
		s.SumEstimatedRunTime += max(0, run.EstimatedRunTime(now).Seconds())
		s.SumEstimatedLateness += max(0, run.EstimatedStartTimeDelta(now).Seconds())
	}
	out := make([]apitype.HistoryResponse, n)
	for i := range n {
		states := []apitype.HistoryResponseState{}
		for _, s := range buckets[i] {
			states = append(states, *s)
		}
		slices.SortFunc(states, func(a, b apitype.HistoryResponseState) int {
			if c := strings.Compare(string(a.StateType), string(b.StateType)); c != 0 {
				return c
			}
			return strings.Compare(a.StateName, b.StateName)
		})
		out[i] = apitype.HistoryResponse{IntervalStart: start.Add(time.Duration(i) * interval),
			IntervalEnd: start.Add(time.Duration(i+1) * interval), States: states}
	}
	return out
}

// pages is Prefect's page count.
func pages(count int64, limit int) int64 {
	if limit <= 0 {
		return 0
	}
	return (count + int64(limit) - 1) / int64(limit)
}

// queryUUID parses a required uuid query parameter.
func queryUUID(r *http.Request, name string) (uuid.UUID, error) {
	vals, ok := r.URL.Query()[name]
	if !ok {
		return uuid.Nil, errValidation(nil, ValidationDetail{Loc: []any{"query", name}, Type: "missing", Msg: "Field required"})
	}
	id, err := uuid.Parse(vals[0])
	if err != nil {
		return uuid.Nil, errValidation(nil, ValidationDetail{Loc: []any{"query", name}, Type: "uuid_parsing", Input: vals[0],
			Msg: "Input should be a valid UUID, unable to parse string as an UUID"})
	}
	return id, nil
}

func (a *app) flowRunStates(w http.ResponseWriter, r *http.Request) error {
	id, err := queryUUID(r, "flow_run_id")
	if err != nil {
		return err
	}
	states, err := a.store.FlowRunStates(r.Context(), id)
	if err != nil {
		return fmt.Errorf("read flow run states: %w", err)
	}
	writeJSON(w, http.StatusOK, states)
	return nil
}

func (a *app) flowRunStateGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.store.FlowRunStateGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Flow run state not found")
	}
	if err != nil {
		return fmt.Errorf("read flow run state: %w", err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (a *app) taskRunStates(w http.ResponseWriter, r *http.Request) error {
	id, err := queryUUID(r, "task_run_id")
	if err != nil {
		return err
	}
	states, err := a.store.TaskRunStates(r.Context(), id)
	if err != nil {
		return fmt.Errorf("read task run states: %w", err)
	}
	writeJSON(w, http.StatusOK, states)
	return nil
}

func (a *app) taskRunStateGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.store.TaskRunStateGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Task run state not found")
	}
	if err != nil {
		return fmt.Errorf("read task run state: %w", err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// ---- flow run reads ----

func (a *app) flowRunFilter(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeRunQuery(r, "flow runs", apitype.FlowRunSorts)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	out := []apitype.FlowRun{}
	if !win.empty() {
		runs, err := a.store.FlowRunList(r.Context(), &storage.RunListParams{RunQuery: *q.storage(), Sort: q.sort(),
			Limit: win.limit, Offset: win.offset})
		if err != nil {
			return fmt.Errorf("list flow runs: %w", err)
		}
		out = append(out, a.presentFlowRuns(r.Context(), runs)...)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) flowRunCount(w http.ResponseWriter, r *http.Request) error {
	q, _, err := decodeRunQuery(r, "flow runs", apitype.FlowRunSorts)
	if err != nil {
		return err
	}
	n, err := a.store.FlowRunCount(r.Context(), q.storage())
	if err != nil {
		return fmt.Errorf("count flow runs: %w", err)
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (a *app) flowRunPaginate(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeRunQuery(r, "flow runs", apitype.FlowRunSorts)
	if err != nil {
		return err
	}
	win, page, err := a.pageWindow(raw, q.Limit, q.Page)
	if err != nil {
		return err
	}
	resp := apitype.FlowRunPaginationResponse{Results: []apitype.FlowRun{}, Limit: win.limit, Page: page}
	if !win.empty() {
		runs, err := a.store.FlowRunList(r.Context(), &storage.RunListParams{RunQuery: *q.storage(), Sort: q.sort(),
			Limit: win.limit, Offset: win.offset})
		if err != nil {
			return fmt.Errorf("list flow runs: %w", err)
		}
		resp.Results = append(resp.Results, a.presentFlowRuns(r.Context(), runs)...)
	}
	if resp.Count, err = a.store.FlowRunCount(r.Context(), q.storage()); err != nil {
		return fmt.Errorf("count flow runs: %w", err)
	}
	resp.Pages = pages(resp.Count, win.limit)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *app) flowRunHistory(w http.ResponseWriter, r *http.Request) error {
	return a.runHistory(w, r, "flow runs", apitype.FlowRunSorts, func(q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error) {
		return a.store.FlowRunHistory(r.Context(), q, start, end)
	})
}
