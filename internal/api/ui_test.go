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
)

// uiTaskRun posts a PENDING task run in flowRunID (nil: none).
func (ts *testServer) uiTaskRun(flowRunID *uuid.UUID, name string) apitype.TaskRun {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/task_runs/", map[string]any{"flow_run_id": flowRunID, "task_key": name, "dynamic_key": "0",
		"name": name, "state": map[string]any{"type": "PENDING"}}), http.StatusCreated, "POST", "/task_runs/")
	var tr apitype.TaskRun
	require.NoError(ts.t, json.Unmarshal(raw, &tr))
	return tr
}

func TestUIIDListValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for _, p := range []string{"/api/ui/flows/count-deployments", "/api/ui/flows/next-runs"} {
		ts.expect(ts.do("POST", p, `{}`), http.StatusUnprocessableEntity, `{"exception_message":"Invalid request received.",
			"exception_detail":[{"loc":["body","flow_ids"],"msg":"Field required","type":"missing"}],"request_body":{}}`)
		ts.expect(ts.do("POST", p, `{"flow_ids":"x"}`), http.StatusUnprocessableEntity, `{"exception_message":"Invalid request received.",
			"exception_detail":[{"loc":["body","flow_ids"],"msg":"Input should be a valid list","type":"list_type","input":"x"}],"request_body":{"flow_ids":"x"}}`)
		ts.expect(ts.do("POST", p, `{"flow_ids":["x"]}`), http.StatusUnprocessableEntity, `{"exception_message":"Invalid request received.",
			"exception_detail":[{"loc":["body","flow_ids",0],"msg":"Input should be a valid UUID, unable to parse string as an UUID","type":"uuid_parsing","input":"x"}],
			"request_body":{"flow_ids":["x"]}}`)
	}
	ids := make([]uuid.UUID, 201)
	for i := range ids {
		ids[i] = uuid.New()
	}
	r := ts.do("POST", "/api/ui/flow_runs/count-task-runs", map[string]any{"flow_run_ids": ids})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	var body validationBody
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.Len(t, body.ExceptionDetail, 1)
	d := body.ExceptionDetail[0]
	require.Equal(t, "too_long", d.Type)
	require.Equal(t, "List should have at most 200 items after validation, not 201", d.Msg)
	require.Equal(t, map[string]any{"field_type": "List", "max_length": float64(200), "actual_length": float64(201)}, d.Ctx)
	// 200 is fine.
	require.Equal(t, http.StatusOK, ts.do("POST", "/api/ui/flow_runs/count-task-runs", map[string]any{"flow_run_ids": ids[:200]}).Status)
}

func TestUIFlows(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	a, b := ts.createFlow("a"), ts.createFlow("b")
	missing := uuid.New()
	// Keys come back in request order, each once.
	r := ts.do("POST", "/api/ui/flows/count-deployments", map[string]any{"flow_ids": []uuid.UUID{b.ID, a.ID, b.ID, missing}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, fmt.Sprintf(`{"%s":0,"%s":0,"%s":0}`, b.ID, a.ID, missing), string(r.Body))

	soon, later := ts.clock().Add(time.Hour), ts.clock().Add(2*time.Hour)
	scheduled := func(at time.Time) apitype.FlowRun {
		return ts.createFlowRun(map[string]any{"flow_id": a.ID, "state": map[string]any{"type": "SCHEDULED",
			"state_details": map[string]any{"scheduled_time": at}}})
	}
	scheduled(later)
	next := scheduled(soon)
	ts.createFlowRun(map[string]any{"flow_id": b.ID}) // PENDING: b has no next run
	r = ts.do("POST", "/api/ui/flows/next-runs", map[string]any{"flow_ids": []uuid.UUID{a.ID, b.ID}})
	ts.expect(r, http.StatusOK, fmt.Sprintf(`{"%s":{"id":"%s","flow_id":"%s","name":%q,"state_name":"Scheduled","state_type":"SCHEDULED",
		"next_scheduled_start_time":"%s"},"%s":null}`, a.ID, next.ID, a.ID, next.Name, soon.Format(time.RFC3339Nano), b.ID))
	require.True(t, strings.HasPrefix(string(r.Body), `{"`+a.ID.String()), "request order")
}

func TestUIFlowRunHistory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	t0 := ts.clock()
	early := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "early"})
	ts.advance(30 * time.Second)
	ts.setState("flow_runs", early.ID, http.StatusCreated, stateBody("RUNNING")) // started 30 s late
	ts.advance(10 * time.Second)
	future := ts.clock().Add(time.Hour)
	sched := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "later", "state": map[string]any{"type": "SCHEDULED",
		"state_details": map[string]any{"scheduled_time": future}}})

	list := func(body any) []apitype.SimpleFlowRun {
		t.Helper()
		r := ts.do("POST", "/api/ui/flow_runs/history", body)
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		var out []apitype.SimpleFlowRun
		require.NoError(t, json.Unmarshal(r.Body, &out))
		return out
	}
	got := list(nil)
	require.Equal(t, []apitype.SimpleFlowRun{
		{ID: sched.ID, StateType: apitype.StateTypeScheduled, Timestamp: future, Duration: 0, Lateness: 0},
		// Running for 10 s, started at t0+30s: duration counts up to now.
		{ID: early.ID, StateType: apitype.StateTypeRunning, Timestamp: t0.Add(30 * time.Second), Duration: 10, Lateness: 30},
	}, got, "EXPECTED_START_TIME_DESC by default")
	require.Equal(t, []uuid.UUID{early.ID}, []uuid.UUID{list(map[string]any{"sort": "NAME_ASC", "limit": 1})[0].ID})
	require.Len(t, list(map[string]any{"offset": 1}), 1)
	require.Empty(t, list(map[string]any{"limit": 0}))
	require.Len(t, list(map[string]any{"flow_runs": map[string]any{"name": map[string]any{"any_": []string{"later"}}}}), 1)

	ts.expect(ts.do("POST", "/api/ui/flow_runs/history", `{"limit":1001,"offset":-1}`), http.StatusUnprocessableEntity,
		`{"exception_message":"Invalid request received.","exception_detail":[
		{"type":"less_than_equal","loc":["body","limit"],"msg":"Input should be less than or equal to 1000","input":1001,"ctx":{"le":1000}},
		{"type":"greater_than_equal","loc":["body","offset"],"msg":"Input should be greater than or equal to 0","input":-1,"ctx":{"ge":0}}],
		"request_body":{"limit":1001,"offset":-1}}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/ui/flow_runs/history", `{"limit":-1}`).Status)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/ui/flow_runs/history", `{"sort":"SIDEWAYS"}`).Status)
}

func TestUICountTaskRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	parent := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	empty := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.uiTaskRun(&parent.ID, "a")
	ts.uiTaskRun(&parent.ID, "b")
	tracker := ts.uiTaskRun(&parent.ID, "child-flow")
	ts.advance(time.Second) // the subflow's state is mirrored onto the tracker: a new timestamp
	ts.createFlowRun(map[string]any{"flow_id": flow.ID, "parent_task_run_id": tracker.ID})
	r := ts.do("POST", "/api/ui/flow_runs/count-task-runs", map[string]any{"flow_run_ids": []uuid.UUID{empty.ID, parent.ID}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, fmt.Sprintf(`{"%s":0,"%s":2}`, empty.ID, parent.ID), string(r.Body), "the subflow's tracking task run is not counted")
}

func TestUITaskRunCounts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil) // the clock starts at 12:00:00
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))
	run := func(name string, final string, startAfter time.Duration) {
		tr := ts.uiTaskRun(&fr.ID, name)
		ts.advance(startAfter)
		ts.setState("task_runs", tr.ID, http.StatusCreated, stateBody("RUNNING"))
		if final != "" {
			ts.advance(time.Second)
			ts.setState("task_runs", tr.ID, http.StatusCreated, stateBody(final))
		}
	}
	run("ok", "COMPLETED", time.Second)    // starts 12:00:01
	run("bad", "FAILED", 64*time.Second)   // starts 12:01:06
	run("crash", "CRASHED", 4*time.Second) // starts 12:01:11
	run("busy", "", 4*time.Second)         // starts 12:01:16, still running
	ts.uiTaskRun(&fr.ID, "waiting")        // PENDING, never started
	orphan := ts.uiTaskRun(nil, "solo")    // no flow run

	// after_ 11:50:30 → buckets from 11:50; before_ 12:09:10 → to 12:09:59.999999:
	// 20 buckets of 60 s (1199.999999 s / 20, rounded to the microsecond).
	counts := func(taskRuns map[string]any) []apitype.TaskRunCount {
		t.Helper()
		r := ts.do("POST", "/api/ui/task_runs/dashboard/counts", map[string]any{"task_runs": taskRuns})
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		var out []apitype.TaskRunCount
		require.NoError(t, json.Unmarshal(r.Body, &out))
		require.Len(t, out, 20)
		return out
	}
	want := make([]apitype.TaskRunCount, 20)
	want[10] = apitype.TaskRunCount{Completed: 1}
	want[11] = apitype.TaskRunCount{Failed: 2}
	window := map[string]any{"after_": "2026-03-01T11:50:30Z", "before_": "2026-03-01T12:09:10Z"}
	require.Equal(t, want, counts(map[string]any{"start_time": window}))
	require.Equal(t, want, counts(map[string]any{"start_time": window, "state": map[string]any{"type": map[string]any{"any_": []string{"RUNNING"}}}}),
		"the terminal-state criterion replaces the request's")
	// Without before_, the window ends with the current minute (now 12:01:16):
	// 719.999999 s / 20 → 36 s buckets from 11:50.
	want = make([]apitype.TaskRunCount, 20)
	want[16] = apitype.TaskRunCount{Completed: 1}
	want[18] = apitype.TaskRunCount{Failed: 2}
	require.Equal(t, want, counts(map[string]any{"start_time": map[string]any{"after_": "2026-03-01T11:50:30Z"}}))
	// before_ minutes before after_: nothing can match.
	require.Equal(t, make([]apitype.TaskRunCount, 20), counts(map[string]any{"start_time": map[string]any{"after_": "2026-03-01T12:00:00Z",
		"before_": "2026-03-01T11:00:00Z"}}))

	ts.expect(ts.do("POST", "/api/ui/task_runs/dashboard/counts", `{}`), http.StatusUnprocessableEntity, `{"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","task_runs"],"msg":"Field required","type":"missing"}],"request_body":{}}`)
	ts.expect(ts.do("POST", "/api/ui/task_runs/dashboard/counts", `{"task_runs":{}}`), http.StatusUnprocessableEntity,
		`{"detail":"task_runs.start_time.after_ is required"}`)

	// Counts by state: every state type is present.
	r := ts.do("POST", "/api/ui/task_runs/count", nil)
	ts.expect(r, http.StatusOK, `{"COMPLETED":1,"PENDING":2,"RUNNING":1,"FAILED":1,"CANCELLED":0,"CRASHED":1,"PAUSED":0,"CANCELLING":0,"SCHEDULED":0}`)
	require.True(t, strings.HasPrefix(string(r.Body), `{"COMPLETED":`), "Prefect's field order")
	ts.expect(ts.do("POST", "/api/ui/task_runs/count", map[string]any{"task_runs": map[string]any{"id": map[string]any{"any_": []uuid.UUID{orphan.ID}}}}),
		http.StatusOK, `{"COMPLETED":0,"PENDING":1,"RUNNING":0,"FAILED":0,"CANCELLED":0,"CRASHED":0,"PAUSED":0,"CANCELLING":0,"SCHEDULED":0}`)
	ts.expect(ts.do("POST", "/api/ui/task_runs/count", map[string]any{"deployments": map[string]any{}}),
		http.StatusOK, `{"COMPLETED":0,"PENDING":0,"RUNNING":0,"FAILED":0,"CANCELLED":0,"CRASHED":0,"PAUSED":0,"CANCELLING":0,"SCHEDULED":0}`)
}

func TestUITaskRunGet(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "nightly"})
	tr := ts.uiTaskRun(&fr.ID, "add")
	orphan := ts.uiTaskRun(nil, "solo")

	read := func(id uuid.UUID) (apitype.UITaskRun, map[string]any) {
		t.Helper()
		r := ts.do("GET", "/api/ui/task_runs/"+id.String(), nil)
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		var got apitype.UITaskRun
		require.NoError(t, json.Unmarshal(r.Body, &got))
		var fields map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &fields))
		return got, fields
	}
	got, fields := read(tr.ID)
	require.Equal(t, "nightly", *got.FlowRunName)
	require.Equal(t, tr.ID, got.ID)
	// Every TaskRun field is there too.
	plain := ts.ok(ts.do("GET", "/api/task_runs/"+tr.ID.String(), nil), http.StatusOK, "GET", "/task_runs/{id}")
	var want map[string]any
	require.NoError(t, json.Unmarshal(plain, &want))
	want["flow_run_name"] = "nightly"
	require.Equal(t, want, fields)

	got, fields = read(orphan.ID)
	require.Nil(t, got.FlowRunName)
	require.Contains(t, fields, "flow_run_name")

	ts.expect(ts.do("GET", "/api/ui/task_runs/"+uuid.NewString(), nil), http.StatusNotFound, `{"detail":"Task not found"}`)
	ts.expect(ts.do("GET", "/api/ui/task_runs/not-a-uuid", nil), http.StatusNotFound, `{"detail":"Not Found"}`)
}

func TestFlowRunLateness(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	lateness := func(body any) *float64 {
		t.Helper()
		raw := ts.ok(ts.do("POST", "/api/flow_runs/lateness", body), http.StatusOK, "POST", "/flow_runs/lateness")
		var v *float64
		require.NoError(t, json.Unmarshal(raw, &v))
		return v
	}
	require.Nil(t, lateness(nil), "no runs: null")

	late := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "late"})
	ts.advance(30 * time.Second)
	ts.setState("flow_runs", late.ID, http.StatusCreated, stateBody("RUNNING"))
	waiting := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "waiting"}) // pending since now
	ts.advance(90 * time.Second)
	// late: 30 s; waiting: not started, 90 s past its expected start.
	require.InDelta(t, 60.0, *lateness(nil), 1e-6)
	require.InDelta(t, 30.0, *lateness(map[string]any{"flow_runs": map[string]any{"name": map[string]any{"any_": []string{"late"}}}}), 1e-6)
	// The same figure as the runs' own estimated_start_time_delta.
	sum := ts.readFlowRun(late.ID).EstimatedStartTimeDelta + ts.readFlowRun(waiting.ID).EstimatedStartTimeDelta
	require.InDelta(t, sum/2, *lateness(nil), 1e-6)
	require.Nil(t, lateness(map[string]any{"work_pool_queues": map[string]any{}}), "no run is in a work queue")
}
