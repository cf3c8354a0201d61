package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/settings"
)

func (ts *testServer) createFlowRun(body map[string]any) apitype.FlowRun {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/flow_runs/", body), http.StatusCreated, "POST", "/flow_runs/")
	var fr apitype.FlowRun
	require.NoError(ts.t, json.Unmarshal(raw, &fr))
	return fr
}

func (ts *testServer) readFlowRun(id uuid.UUID) apitype.FlowRun {
	ts.t.Helper()
	raw := ts.ok(ts.do("GET", "/api/flow_runs/"+id.String(), nil), http.StatusOK, "GET", "/flow_runs/{id}")
	var fr apitype.FlowRun
	require.NoError(ts.t, json.Unmarshal(raw, &fr))
	return fr
}

// setState posts a set_state and returns the result; status is asserted.
func (ts *testServer) setState(kind string, id uuid.UUID, status int, body any) apitype.OrchestrationResult {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/"+kind+"/"+id.String()+"/set_state", body), status, "POST", "/"+kind+"/{id}/set_state")
	var res apitype.OrchestrationResult
	require.NoError(ts.t, json.Unmarshal(raw, &res))
	return res
}

func stateBody(typ string, extra ...any) map[string]any {
	st := map[string]any{"type": typ}
	for i := 0; i+1 < len(extra); i += 2 {
		st[extra[i].(string)] = extra[i+1]
	}
	return map[string]any{"state": st}
}

func TestFlowRunLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "nightly", "parameters": map[string]any{"x": 1},
		"tags": []string{"t"}, "labels": map[string]any{"team": "data"}})
	require.Equal(t, "nightly", fr.Name)
	require.Equal(t, apitype.StateTypePending, *fr.StateType, "no state means PENDING")
	require.Equal(t, "Pending", fr.State.Name)
	require.Equal(t, map[string]any{"team": "data", "prefect.flow.id": flow.ID.String()}, fr.Labels)
	require.Equal(t, ts.clock(), *fr.ExpectedStartTime)
	require.Zero(t, fr.RunCount)

	ts.advance(time.Second)
	res := ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, apitype.StateTypeRunning, res.State.Type)
	got := ts.readFlowRun(fr.ID)
	require.Equal(t, 1, got.RunCount)
	require.Equal(t, ts.clock(), *got.StartTime)
	require.Equal(t, res.State.ID, got.State.ID)
	require.Nil(t, got.EndTime)

	ts.advance(5 * time.Second)
	got = ts.readFlowRun(fr.ID)
	require.InDelta(t, 5.0, got.EstimatedRunTime, 1e-6, "estimated while running")
	res = ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("COMPLETED", "data", map[string]any{"type": "reference", "storage_key": "k"}))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	got = ts.readFlowRun(fr.ID)
	require.Equal(t, apitype.StateTypeCompleted, *got.StateType)
	require.Equal(t, ts.clock(), *got.EndTime)
	require.InDelta(t, 5.0, got.TotalRunTime, 1e-6)
	require.Equal(t, 1, got.RunCount)

	raw := ts.ok(ts.do("GET", "/api/flow_run_states/?flow_run_id="+fr.ID.String(), nil), http.StatusOK, "GET", "/flow_run_states/")
	var states []apitype.State
	require.NoError(t, json.Unmarshal(raw, &states))
	var names []string
	for _, s := range states {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"Pending", "Running", "Completed"}, names)
	one := ts.ok(ts.do("GET", "/api/flow_run_states/"+states[1].ID.String(), nil), http.StatusOK, "GET", "/flow_run_states/{id}")
	require.Contains(t, string(one), `"name":"Running"`)

	// REJECT: a completed run with a persisted result cannot run again.
	ts.advance(time.Second)
	res = ts.setState("flow_runs", fr.ID, http.StatusOK, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusReject, res.Status)
	require.Equal(t, "Run is already COMPLETED.", *res.Details.Reason)
	require.Equal(t, apitype.StateTypeCompleted, res.State.Type, "the current state is returned")

	// force skips the rules.
	res = ts.setState("flow_runs", fr.ID, http.StatusCreated, map[string]any{"state": map[string]any{"type": "RUNNING"}, "force": true})
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	got = ts.readFlowRun(fr.ID)
	require.Equal(t, 2, got.RunCount)
	require.Nil(t, got.EndTime, "leaving a terminal state clears the end time")
}

func TestFlowRunSetStateWaitAndAbort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	later := ts.clock().Add(time.Minute)
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID,
		"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"scheduled_time": later}}})
	require.Equal(t, later, *fr.NextScheduledStartTime)
	ts.advance(time.Second)
	res := ts.setState("flow_runs", fr.ID, http.StatusOK, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusWait, res.Status)
	require.Equal(t, 59, res.Details.DelaySeconds)
	require.Equal(t, apitype.StateTypeScheduled, res.State.Type)
	require.Equal(t, apitype.StateTypeScheduled, *ts.readFlowRun(fr.ID).StateType, "nothing written")

	ts.advance(time.Second)
	res = ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("PENDING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	ts.advance(time.Second)
	res = ts.setState("flow_runs", fr.ID, http.StatusOK, stateBody("PENDING"))
	require.Equal(t, apitype.SetStateStatusAbort, res.Status)
	require.Equal(t, "This run is in a PENDING state and cannot transition to a PENDING state.", *res.Details.Reason)
}

func TestFlowRunCreateIdempotentAndErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) { s.MaxParameterSize = 20 })
	flow := ts.createFlow("etl")
	first := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "idempotency_key": "k"})
	raw := ts.ok(ts.do("POST", "/api/flow_runs/", map[string]any{"flow_id": flow.ID, "idempotency_key": "k", "name": "other"}),
		http.StatusOK, "POST", "/flow_runs/")
	var again apitype.FlowRun
	require.NoError(t, json.Unmarshal(raw, &again))
	require.Equal(t, first.ID, again.ID)
	require.NotEmpty(t, first.Name, "a name is generated")

	ts.expect(ts.do("POST", "/api/flow_runs/", `{}`), http.StatusUnprocessableEntity, `{"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","flow_id"],"msg":"Field required","type":"missing","input":{}}],"request_body":{}}`)
	r := ts.do("POST", "/api/flow_runs/", map[string]any{"flow_id": flow.ID, "parameters": map[string]any{"big": strings.Repeat("x", 30)}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), "Flow run parameters must be less than 20 bytes when serialized (got 40 bytes).")
	r = ts.do("POST", "/api/flow_runs/", map[string]any{"flow_id": flow.ID, "state": map[string]any{"type": "BOGUS"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), `"loc":["body","state","type"]`)
	ts.expect(ts.do("POST", "/api/flow_runs/", map[string]any{"flow_id": uuid.New()}), http.StatusConflict,
		fmt.Sprintf(`{"detail":%q}`, integrityConflictDetail))

	missing := uuid.New()
	ts.expect(ts.do("GET", "/api/flow_runs/"+missing.String(), nil), http.StatusNotFound, `{"detail":"Flow run not found"}`)
	ts.expect(ts.do("DELETE", "/api/flow_runs/"+missing.String(), nil), http.StatusNotFound, `{"detail":"Flow run not found"}`)
	ts.expect(ts.do("PATCH", "/api/flow_runs/"+missing.String(), `{}`), http.StatusNotFound, `{"detail":"Flow run not found"}`)
	ts.expect(ts.do("POST", "/api/flow_runs/"+missing.String()+"/set_state", stateBody("RUNNING")), http.StatusNotFound,
		fmt.Sprintf(`{"exception_message":"Flow run with id %s not found"}`, missing))
	ts.expect(ts.do("POST", "/api/flow_runs/"+first.ID.String()+"/set_state", `{}`), http.StatusUnprocessableEntity,
		`{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","state"],"msg":"Field required","type":"missing","input":{}}],"request_body":{}}`)
	ts.expect(ts.do("GET", "/api/flow_run_states/", nil), http.StatusUnprocessableEntity,
		`{"exception_message":"Invalid request received.","exception_detail":[{"loc":["query","flow_run_id"],"msg":"Field required","type":"missing"}],"request_body":null}`)
	ts.expect(ts.do("GET", "/api/flow_run_states/"+missing.String(), nil), http.StatusNotFound, `{"detail":"Flow run state not found"}`)
}

func TestFlowRunUpdateLabelsDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	r := ts.do("PATCH", "/api/flow_runs/"+fr.ID.String(), map[string]any{"name": "renamed", "tags": []string{"a"}})
	require.Equal(t, http.StatusNoContent, r.Status)
	r = ts.do("PATCH", "/api/flow_runs/"+fr.ID.String()+"/labels", map[string]any{"env": "prod"})
	require.Equal(t, http.StatusNoContent, r.Status)
	got := ts.readFlowRun(fr.ID)
	require.Equal(t, "renamed", got.Name)
	require.Equal(t, []string{"a"}, got.Tags)
	require.Equal(t, map[string]any{"env": "prod", "prefect.flow.id": flow.ID.String()}, got.Labels)
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/flow_runs/"+fr.ID.String(), nil).Status)
	ts.expect(ts.do("GET", "/api/flow_runs/"+fr.ID.String(), nil), http.StatusNotFound, `{"detail":"Flow run not found"}`)

	a := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	raw := ts.ok(ts.do("POST", "/api/flow_runs/bulk_delete", map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []uuid.UUID{a.ID}}}}),
		http.StatusOK, "POST", "/flow_runs/bulk_delete")
	require.JSONEq(t, fmt.Sprintf(`{"deleted":[%q]}`, a.ID), string(raw))
	r = ts.do("POST", "/api/flow_runs/bulk_delete", map[string]any{"limit": 51})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
}

func TestFlowRunReads(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl", "prod")
	other := ts.createFlow("other")
	var ids []uuid.UUID
	for i := range 3 {
		fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": fmt.Sprintf("run-%d", i)})
		ids = append(ids, fr.ID)
		ts.advance(time.Second)
	}
	ts.createFlowRun(map[string]any{"flow_id": other.ID, "name": "elsewhere"})
	ts.setState("flow_runs", ids[0], http.StatusCreated, stateBody("RUNNING"))

	names := func(body any) []string {
		raw := ts.ok(ts.do("POST", "/api/flow_runs/filter", body), http.StatusOK, "POST", "/flow_runs/filter")
		var runs []apitype.FlowRun
		require.NoError(t, json.Unmarshal(raw, &runs))
		out := []string{}
		for _, r := range runs {
			out = append(out, r.Name)
		}
		return out
	}
	require.Equal(t, []string{"elsewhere", "run-2", "run-1", "run-0"}, names(nil), "ID_DESC: newest (v7) first")
	require.Equal(t, []string{"run-0", "run-1", "run-2"}, names(map[string]any{"sort": "NAME_ASC", "flows": map[string]any{"tags": map[string]any{"all_": []string{"prod"}}}}))
	require.Equal(t, []string{"run-0"}, names(map[string]any{"flow_runs": map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"RUNNING"}}}}}))
	require.Equal(t, []string{"run-0"}, names(map[string]any{"sort": "NAME_ASC", "limit": 1, "offset": 1}))

	raw := ts.ok(ts.do("POST", "/api/flow_runs/count", map[string]any{"flow_runs": map[string]any{"name": map[string]any{"like_": "run"}}}), http.StatusOK, "POST", "/flow_runs/count")
	require.Equal(t, "3", string(raw))
	raw = ts.ok(ts.do("POST", "/api/flow_runs/paginate", map[string]any{"limit": 2, "page": 2}), http.StatusOK, "POST", "/flow_runs/paginate")
	var page apitype.FlowRunPaginationResponse
	require.NoError(t, json.Unmarshal(raw, &page))
	require.Equal(t, int64(4), page.Count)
	require.Equal(t, int64(2), page.Pages)
	require.Len(t, page.Results, 2)

	r := ts.do("POST", "/api/flow_runs/filter", map[string]any{"sort": "SIDEWAYS"})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	ts.expect(ts.do("POST", "/api/flow_runs/filter", map[string]any{"limit": 201}), http.StatusUnprocessableEntity, `{"detail":"Invalid limit: must be less than or equal to 200."}`)
	// No run here has a deployment (TestDeploymentCrossFilters has some).
	require.Equal(t, "[]", string(ts.ok(ts.do("POST", "/api/flow_runs/filter", map[string]any{"deployments": map[string]any{}}),
		http.StatusOK, "POST", "/flow_runs/filter")))

	start := ts.clock().Add(-10 * time.Second)
	raw = ts.ok(ts.do("POST", "/api/flow_runs/history", map[string]any{"history_start": start, "history_end": ts.clock().Add(time.Second),
		"history_interval_seconds": 5}), http.StatusOK, "POST", "/flow_runs/history")
	var hist []apitype.HistoryResponse
	require.NoError(t, json.Unmarshal(raw, &hist))
	require.Len(t, hist, 3)
	total := int64(0)
	for _, h := range hist {
		for _, s := range h.States {
			total += s.CountRuns
		}
	}
	require.Equal(t, int64(4), total)
	ts.expect(ts.do("POST", "/api/flow_runs/history", map[string]any{"history_start": start, "history_end": start, "history_interval_seconds": 0.5}),
		http.StatusUnprocessableEntity, `{"detail":"History interval must not be less than 1 second."}`)
}

func TestTaskRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.advance(time.Second)
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))

	body := map[string]any{"flow_run_id": fr.ID, "task_key": "add-1", "dynamic_key": "0", "name": "add-0",
		"state": map[string]any{"type": "PENDING"}, "task_inputs": map[string]any{"x": []any{map[string]any{"input_type": "parameter", "name": "x"}}}}
	raw := ts.ok(ts.do("POST", "/api/task_runs/", body), http.StatusCreated, "POST", "/task_runs/")
	var tr apitype.TaskRun
	require.NoError(t, json.Unmarshal(raw, &tr))
	require.Equal(t, "Pending", tr.State.Name)
	require.Equal(t, fr.ID.String(), tr.Labels["prefect.flow-run.id"])
	raw = ts.ok(ts.do("POST", "/api/task_runs/", body), http.StatusOK, "POST", "/task_runs/")
	var dup apitype.TaskRun
	require.NoError(t, json.Unmarshal(raw, &dup))
	require.Equal(t, tr.ID, dup.ID, "deduped on (flow_run_id, task_key, dynamic_key)")

	ts.advance(time.Second)
	res := ts.setState("task_runs", tr.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	ts.advance(2 * time.Second)
	res = ts.setState("task_runs", tr.ID, http.StatusCreated, stateBody("COMPLETED"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	raw = ts.ok(ts.do("GET", "/api/task_runs/"+tr.ID.String(), nil), http.StatusOK, "GET", "/task_runs/{id}")
	var got apitype.TaskRun
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, 1, got.RunCount)
	require.Equal(t, 1, got.FlowRunRunCount)
	require.InDelta(t, 2.0, got.TotalRunTime, 1e-6)

	raw = ts.ok(ts.do("GET", "/api/task_run_states/?task_run_id="+tr.ID.String(), nil), http.StatusOK, "GET", "/task_run_states/")
	var states []apitype.State
	require.NoError(t, json.Unmarshal(raw, &states))
	require.Len(t, states, 3)
	ts.ok(ts.do("GET", "/api/task_run_states/"+states[0].ID.String(), nil), http.StatusOK, "GET", "/task_run_states/{id}")

	raw = ts.ok(ts.do("POST", "/api/task_runs/filter", map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []uuid.UUID{fr.ID}}}}),
		http.StatusOK, "POST", "/task_runs/filter")
	require.Contains(t, string(raw), tr.ID.String())
	raw = ts.ok(ts.do("POST", "/api/task_runs/count", nil), http.StatusOK, "POST", "/task_runs/count")
	require.Equal(t, "1", string(raw))
	ts.ok(ts.do("POST", "/api/task_runs/paginate", nil), http.StatusOK, "POST", "/task_runs/paginate")
	ts.ok(ts.do("POST", "/api/task_runs/history", map[string]any{"history_start": ts.clock().Add(-time.Hour), "history_end": ts.clock(),
		"history_interval_seconds": 600}), http.StatusOK, "POST", "/task_runs/history")
	// Flow runs filtered by their task runs.
	raw = ts.ok(ts.do("POST", "/api/flow_runs/count", map[string]any{"task_runs": map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}}}}),
		http.StatusOK, "POST", "/flow_runs/count")
	require.Equal(t, "1", string(raw))

	require.Equal(t, http.StatusNoContent, ts.do("PATCH", "/api/task_runs/"+tr.ID.String(), map[string]any{"name": "x"}).Status)
	missing := uuid.New()
	ts.expect(ts.do("GET", "/api/task_runs/"+missing.String(), nil), http.StatusNotFound, `{"detail":"Task run not found"}`)
	ts.expect(ts.do("POST", "/api/task_runs/"+missing.String()+"/set_state", stateBody("RUNNING")), http.StatusNotFound,
		fmt.Sprintf(`{"exception_message":"Task run with id %s not found"}`, missing))
	ts.expect(ts.do("POST", "/api/task_runs/", `{"task_key":"k"}`), http.StatusUnprocessableEntity, `{"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","dynamic_key"],"msg":"Field required","type":"missing","input":{"task_key":"k"}}],"request_body":{"task_key":"k"}}`)
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/task_runs/"+tr.ID.String(), nil).Status)
	ts.expect(ts.do("DELETE", "/api/task_runs/"+tr.ID.String(), nil), http.StatusNotFound, `{"detail":"Task run not found"}`)
}

// TestSubflowUpdatesParentTaskRun checks the effect path: a subflow's state
// is mirrored onto its tracking task run in the same transaction.
func TestSubflowUpdatesParentTaskRun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	parent := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	raw := ts.ok(ts.do("POST", "/api/task_runs/", map[string]any{"flow_run_id": parent.ID, "task_key": "child", "dynamic_key": "0",
		"state": map[string]any{"type": "PENDING"}}), http.StatusCreated, "POST", "/task_runs/")
	var tracker apitype.TaskRun
	require.NoError(t, json.Unmarshal(raw, &tracker))
	ts.advance(time.Second)
	child := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "parent_task_run_id": tracker.ID})
	ts.advance(time.Second)
	ts.setState("flow_runs", child.ID, http.StatusCreated, stateBody("RUNNING"))
	raw = ts.ok(ts.do("GET", "/api/task_runs/"+tracker.ID.String(), nil), http.StatusOK, "GET", "/task_runs/{id}")
	var got apitype.TaskRun
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, apitype.StateTypeRunning, *got.StateType)
	require.Equal(t, child.ID, *got.State.StateDetails.ChildFlowRunID)
}
