package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"
)

// Dataset is the read-side data seeded identically into both servers by
// bench/seed.py: Flows flows, FlowRuns flow runs spread evenly over the 30
// days after Base (70% COMPLETED, 10% FAILED, 5% RUNNING, 10% SCHEDULED,
// 5% CANCELLED; tags bench + team-0..4) and TaskRuns task runs, TaskRuns /
// FlowRuns per flow run, with the same state mix. Every row has a state row.
type Dataset struct {
	Flows, FlowRuns, TaskRuns int
	Base                      time.Time
}

// ReadQuery is one measured request.
type ReadQuery struct {
	Name string
	Path string
	Body any
	// Target marks the queries the "filter p99 ≤ 1/10" target covers.
	Target bool
}

// ReadQueries are the UI's typical reads over the dataset.
func ReadQueries(d Dataset) []ReadQuery {
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
	end := d.Base.Add(30 * 24 * time.Hour)
	week := map[string]any{"after_": iso(end.Add(-7 * 24 * time.Hour)), "before_": iso(end)}
	flow3 := fmt.Sprintf("00000001-0000-4000-8000-%012x", 3)
	run42 := fmt.Sprintf("00000002-0000-4000-8000-%012x", 42)
	states := func(t ...string) map[string]any { return map[string]any{"type": map[string]any{"any_": t}} }
	return []ReadQuery{
		{"runs page: last 7 days, newest first", "/flow_runs/filter", map[string]any{
			"sort": "START_TIME_DESC", "limit": 10, "offset": 0,
			"flow_runs": map[string]any{"expected_start_time": week}}, true},
		{"failed runs, newest first", "/flow_runs/filter", map[string]any{
			"sort": "EXPECTED_START_TIME_DESC", "limit": 10, "offset": 0,
			"flow_runs": map[string]any{"state": states("FAILED", "CRASHED")}}, true},
		{"one flow's runs with a tag", "/flow_runs/filter", map[string]any{
			"sort": "EXPECTED_START_TIME_DESC", "limit": 10, "offset": 0,
			// Prefect's FlowRunFilter has no flow_id: the UI filters through flows.
			"flows":     map[string]any{"id": map[string]any{"any_": []string{flow3}}},
			"flow_runs": map[string]any{"tags": map[string]any{"all_": []string{"team-3"}}}}, true},
		{"name search", "/flow_runs/filter", map[string]any{
			"sort": "NAME_ASC", "limit": 10, "offset": 0,
			"flow_runs": map[string]any{"name": map[string]any{"like_": "fr-00042"}}}, true},
		{"scatter plot: last 7 days", "/ui/flow_runs/history", map[string]any{
			"sort": "EXPECTED_START_TIME_DESC", "limit": 1000, "offset": 0,
			"flow_runs": map[string]any{"expected_start_time": week}}, false},
		{"completed task runs, last 7 days", "/task_runs/count", map[string]any{
			"task_runs": map[string]any{"state": states("COMPLETED"), "start_time": week}}, false},
		{"task runs of one flow run", "/task_runs/count", map[string]any{
			"task_runs": map[string]any{"flow_run_id": map[string]any{"any_": []string{run42}}}}, false},
		{"all task runs", "/task_runs/count", map[string]any{}, false},
	}
}

// ReadResult is one query's latency and what it answered.
type ReadResult struct {
	Query       ReadQuery
	Latency     Summary
	Fingerprint string // identical data must give identical answers on both servers
	Answer      string // short description: a count or the number of rows
}

// RunReads measures each query iterations times after warmup unmeasured
// calls, one client at a time, as the UI issues them. On error it returns
// the queries measured so far.
func RunReads(ctx context.Context, api *API, qs []ReadQuery, warmup, iterations int) ([]ReadResult, error) {
	var out []ReadResult
	for _, q := range qs {
		var lat Latencies
		var raw json.RawMessage
		for i := range warmup + iterations {
			t0 := time.Now()
			if err := api.Post(ctx, q.Path, q.Body, &raw); err != nil {
				return out, fmt.Errorf("%s: %w", q.Name, err)
			}
			if i >= warmup {
				lat.Add(time.Since(t0))
			}
		}
		fp, answer, err := fingerprint(raw)
		if err != nil {
			return out, fmt.Errorf("%s: %w", q.Name, err)
		}
		out = append(out, ReadResult{Query: q, Latency: lat.Summary(), Fingerprint: fp, Answer: answer})
	}
	return out, nil
}

// fingerprint reduces an answer to what must match across servers: a count,
// or the ordered ids (with state types) of a list. Timestamps and computed
// fields are left out: their formatting legitimately differs.
func fingerprint(raw json.RawMessage) (fp, answer string, err error) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return fmt.Sprint(n), fmt.Sprintf("count %d", n), nil
	}
	var rows []struct {
		ID        string `json:"id"`
		StateType string `json:"state_type"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return "", "", fmt.Errorf("unexpected answer %.200s", raw)
	}
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%s:%s\n", r.ID, r.StateType)
	}
	return fmt.Sprintf("%x", h.Sum(nil))[:16], fmt.Sprintf("%d rows", len(rows)), nil
}
