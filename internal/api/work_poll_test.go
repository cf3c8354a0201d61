package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// pollEnv is a pool "p" with queues "fast" (priority 1) and "default"
// (priority 2), and a flow whose runs go in them.
type pollEnv struct {
	ts        *testServer
	flow      apitype.Flow
	pool      apitype.WorkPool
	fast, def apitype.WorkQueue
}

func newPollEnv(t *testing.T, pool map[string]any) *pollEnv {
	ts := newTestServer(t, nil)
	e := &pollEnv{ts: ts, flow: ts.createFlow("f")}
	pool["name"], pool["type"] = "p", "process"
	e.pool = ts.createWorkPool(pool)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_pools/p/queues", map[string]any{"name": "fast", "priority": 1}),
		http.StatusCreated, "POST", "/work_pools/{work_pool_name}/queues"), &e.fast))
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_pools/p/queues/default", nil),
		http.StatusOK, "GET", "/work_pools/{work_pool_name}/queues/{name}"), &e.def))
	require.Equal(t, int64(2), e.def.Priority)
	return e
}

// run creates a run in q and schedules it through set_state at due.
func (e *pollEnv) run(q *apitype.WorkQueue, name string, due time.Time, opts ...func(*apitype.FlowRun)) uuid.UUID {
	e.ts.t.Helper()
	r := apitype.FlowRun{ID: uuid.New(), Name: name, FlowID: e.flow.ID, WorkQueueID: &q.ID, WorkQueueName: &q.Name,
		EmpiricalPolicy: apitype.FlowRunPolicy{PauseKeys: []string{}}}
	for _, o := range opts {
		o(&r)
	}
	_, _, err := e.ts.store.FlowRunCreate(context.Background(), &storage.FlowRunCreateParams{Run: r, Now: e.ts.clock()}, nil)
	require.NoError(e.ts.t, err)
	res := e.ts.setState("flow_runs", r.ID, http.StatusCreated, stateBody("SCHEDULED", "state_details", map[string]any{"scheduled_time": due}))
	require.Equal(e.ts.t, apitype.SetStateStatusAccept, res.Status)
	return r.ID
}

func (e *pollEnv) poll(body any) []apitype.WorkerFlowRun {
	e.ts.t.Helper()
	var out []apitype.WorkerFlowRun
	require.NoError(e.ts.t, json.Unmarshal(e.ts.ok(e.ts.do("POST", "/api/work_pools/p/get_scheduled_flow_runs", body),
		http.StatusOK, "POST", "/work_pools/{name}/get_scheduled_flow_runs"), &out))
	return out
}

func pollNames(runs []apitype.WorkerFlowRun) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.FlowRun.Name)
	}
	return out
}

// pyTime is how the SDK sends a datetime: str(datetime).
func pyTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000+00:00") }

func TestPoolScheduledRuns(t *testing.T) {
	t.Parallel()
	e := newPollEnv(t, map[string]any{})
	ts, now := e.ts, e.ts.clock()
	e.run(&e.def, "def-old", now.Add(-20*time.Second))
	e.run(&e.fast, "fast", now.Add(-10*time.Second))
	e.run(&e.def, "def-later", now.Add(time.Hour))

	require.Nil(t, e.fast.LastPolled)
	got := e.poll(map[string]any{"scheduled_before": pyTime(now.Add(5 * time.Second))})
	require.Equal(t, []string{"fast", "def-old"}, pollNames(got), "queue priority first")
	require.Equal(t, e.pool.ID, got[0].WorkPoolID)
	require.Equal(t, e.fast.ID, got[0].WorkQueueID)
	require.Equal(t, apitype.StateTypeScheduled, got[0].FlowRun.State.Type)
	require.Equal(t, []string{"fast", "def-old", "def-later"}, pollNames(e.poll(nil)))
	require.Equal(t, []string{"def-later"}, pollNames(e.poll(map[string]any{"scheduled_after": now.Format(time.RFC3339Nano)})))
	require.Equal(t, []string{"def-old", "def-later"}, pollNames(e.poll(map[string]any{"work_queue_names": []string{"default"}})))
	require.Equal(t, []string{"fast"}, pollNames(e.poll(map[string]any{"limit": 1})))

	// The poll stamped the queues it read: they are READY.
	for _, name := range []string{"fast", "default"} {
		var q apitype.WorkQueue
		require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_pools/p/queues/"+name, nil),
			http.StatusOK, "GET", "/work_pools/{work_pool_name}/queues/{name}"), &q))
		require.Equal(t, now, *q.LastPolled)
		require.Equal(t, apitype.WorkQueueStatusReady, q.Status)
	}

	ts.expect(ts.do("POST", "/api/work_pools/nope/get_scheduled_flow_runs", nil), http.StatusNotFound,
		`{"detail":"Work pool \"nope\" not found."}`)
	ts.expect(ts.do("POST", "/api/work_pools/p/get_scheduled_flow_runs", map[string]any{"work_queue_names": []string{"nope"}}),
		http.StatusNotFound, `{"detail":"Work pool queue 'p/nope' not found."}`)
	for _, bad := range []map[string]any{{"scheduled_before": "soon"}, {"scheduled_after": 5}, {"limit": 201}, {"limit": -1},
		{"work_queue_names": "fast"}} {
		require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/work_pools/p/get_scheduled_flow_runs", bad).Status, "%v", bad)
	}

	ts.ok(ts.do("PATCH", "/api/work_pools/p/queues/fast", map[string]any{"is_paused": true}),
		http.StatusNoContent, "PATCH", "/work_pools/{work_pool_name}/queues/{name}")
	require.Equal(t, []string{"def-old", "def-later"}, pollNames(e.poll(nil)), "paused queues are skipped")
	ts.ok(ts.do("PATCH", "/api/work_pools/p", map[string]any{"is_paused": true}), http.StatusNoContent, "PATCH", "/work_pools/{name}")
	require.Empty(t, e.poll(nil), "a paused pool offers nothing")
}

func TestPoolPollConcurrencyAndSlots(t *testing.T) {
	t.Parallel()
	e := newPollEnv(t, map[string]any{"concurrency_limit": 2})
	ts, now := e.ts, e.ts.clock()
	running := e.run(&e.fast, "running", now.Add(-time.Minute))
	e.run(&e.fast, "fast-1", now.Add(-3*time.Second))
	e.run(&e.def, "def-1", now.Add(-2*time.Second))
	e.run(&e.def, "def-2", now.Add(-1*time.Second))
	ts.setState("flow_runs", running, http.StatusCreated, stateBody("PENDING"))
	ts.setState("flow_runs", running, http.StatusCreated, stateBody("RUNNING"))

	require.Equal(t, []string{"fast-1"}, pollNames(e.poll(nil)), "one of the pool's two slots is taken")
	var pool apitype.WorkPool
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_pools/p", nil), http.StatusOK, "GET", "/work_pools/{name}"), &pool))
	require.Equal(t, int64(1), *pool.ActiveSlots)

	ts.ok(ts.do("PATCH", "/api/work_pools/p", map[string]any{"concurrency_limit": nil}), http.StatusNoContent, "PATCH", "/work_pools/{name}")
	ts.ok(ts.do("PATCH", "/api/work_pools/p/queues/default", map[string]any{"concurrency_limit": 1}),
		http.StatusNoContent, "PATCH", "/work_pools/{work_pool_name}/queues/{name}")
	require.Equal(t, []string{"fast-1", "def-1"}, pollNames(e.poll(nil)), "the default queue has one slot")

	ts.ok(ts.do("PATCH", "/api/work_pools/p/queues/fast", map[string]any{"concurrency_limit": 5}),
		http.StatusNoContent, "PATCH", "/work_pools/{work_pool_name}/queues/{name}")
	var queues []apitype.WorkQueue
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_pools/p/queues/filter", nil),
		http.StatusOK, "POST", "/work_pools/{work_pool_name}/queues/filter"), &queues))
	require.Equal(t, "fast", queues[0].Name)
	require.Equal(t, int64(1), *queues[0].ActiveSlots)
	require.Equal(t, int64(0), *queues[1].ActiveSlots)
	var q apitype.WorkQueue
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_queues/"+e.fast.ID.String(), nil),
		http.StatusOK, "GET", "/work_queues/{id}"), &q))
	require.Equal(t, int64(1), *q.ActiveSlots)

	// concurrency_status: the holder, how long it has been RUNNING.
	ts.advance(30 * time.Second)
	var ps apitype.WorkPoolConcurrencyStatus
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_pools/p/concurrency_status", nil),
		http.StatusOK, "POST", "/work_pools/{name}/concurrency_status"), &ps))
	require.Equal(t, int64(1), ps.ActiveSlots)
	require.Nil(t, ps.ConcurrencyLimit)
	require.Equal(t, int64(2), ps.Count)
	require.Equal(t, int64(1), ps.Pages)
	require.Len(t, ps.Queues, 2)
	require.Equal(t, "fast", ps.Queues[0].QueueName)
	require.Equal(t, int64(1), ps.Queues[0].ActiveSlots)
	require.Equal(t, int64(5), *ps.Queues[0].ConcurrencyLimit)
	require.Len(t, ps.Queues[0].FlowRuns, 1)
	holder := ps.Queues[0].FlowRuns[0]
	require.Equal(t, running, holder.ID)
	require.Equal(t, apitype.StateTypeRunning, *holder.StateType)
	require.InDelta(t, 30.0, *holder.TimeInCurrentState, 0.001)
	require.Empty(t, ps.Queues[1].FlowRuns)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_pools/p/concurrency_status",
		map[string]any{"limit": 1, "page": 2, "flow_run_limit": 0}), http.StatusOK, "POST", "/work_pools/{name}/concurrency_status"), &ps))
	require.Equal(t, []string{"default"}, []string{ps.Queues[0].QueueName})
	require.Equal(t, int64(2), ps.Pages)
	ts.expect(ts.do("POST", "/api/work_pools/nope/concurrency_status", nil), http.StatusNotFound, `{"detail":"Work pool 'nope' not found."}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/work_pools/p/concurrency_status", map[string]any{"flow_run_limit": 201}).Status)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/work_pools/p/concurrency_status", map[string]any{"page": 0}).Status)

	var qs apitype.WorkQueueConcurrencyStatus
	path := "/api/work_queues/" + e.fast.ID.String() + "/concurrency_status"
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", path, nil), http.StatusOK, "POST", "/work_queues/{id}/concurrency_status"), &qs))
	require.Equal(t, int64(1), qs.ActiveSlots)
	require.Equal(t, int64(1), qs.Count)
	require.Equal(t, running, qs.FlowRuns[0].ID)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", path, map[string]any{"limit": 0}), http.StatusOK, "POST", "/work_queues/{id}/concurrency_status"), &qs))
	require.Empty(t, qs.FlowRuns)
	require.Equal(t, int64(1), qs.Count)
	ts.expect(ts.do("POST", "/api/work_queues/"+uuid.NewString()+"/concurrency_status", nil), http.StatusNotFound, `{"detail":"Work queue not found."}`)
}

func TestWorkQueueGetRuns(t *testing.T) {
	t.Parallel()
	e := newPollEnv(t, map[string]any{})
	ts, now := e.ts, e.ts.clock()
	e.run(&e.fast, "later", now.Add(time.Hour))
	e.run(&e.fast, "soon", now.Add(time.Second))
	e.run(&e.def, "other-queue", now)
	path := "/api/work_queues/" + e.fast.ID.String() + "/get_runs"
	runs := func(body any, headers ...string) []string {
		t.Helper()
		var out []apitype.FlowRun
		require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", path, body, headers...), http.StatusOK, "POST", "/work_queues/{id}/get_runs"), &out))
		names := []string{}
		for _, r := range out {
			names = append(names, r.Name)
		}
		return names
	}
	lastPolled := func() *time.Time {
		q, err := ts.store.WorkQueueGet(context.Background(), e.fast.ID, now)
		require.NoError(t, err)
		return q.LastPolled
	}
	require.Equal(t, []string{"soon", "later"}, runs(nil, "X-Prefect-UI", "true"))
	require.Nil(t, lastPolled(), "the UI's reads are not polls")
	require.Equal(t, []string{"soon"}, runs(map[string]any{"scheduled_before": pyTime(now.Add(time.Minute))}))
	require.Equal(t, now, *lastPolled())
	require.Equal(t, []string{"soon"}, runs(map[string]any{"limit": 1}))

	ts.ok(ts.do("PATCH", "/api/work_queues/"+e.fast.ID.String(), map[string]any{"concurrency_limit": 0}),
		http.StatusNoContent, "PATCH", "/work_queues/{id}")
	require.Empty(t, runs(nil))
	missing := uuid.New()
	ts.expect(ts.do("POST", "/api/work_queues/"+missing.String()+"/get_runs", nil), http.StatusNotFound,
		fmt.Sprintf(`{"exception_message":"Work queue with id %s not found."}`, missing))
	require.Equal(t, http.StatusNotFound, ts.do("POST", "/api/work_queues/name/get_runs", nil).Status)
}

func TestWorkQueueStatusLateRuns(t *testing.T) {
	t.Parallel()
	e := newPollEnv(t, map[string]any{})
	ts := e.ts
	late := e.run(&e.fast, "late", ts.clock().Add(-time.Hour))
	e.poll(nil)
	status := func() apitype.WorkQueueStatusDetail {
		var s apitype.WorkQueueStatusDetail
		require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_queues/"+e.fast.ID.String()+"/status", nil),
			http.StatusOK, "GET", "/work_queues/{id}/status"), &s))
		return s
	}
	require.True(t, status().Healthy)
	ts.setState("flow_runs", late, http.StatusCreated, stateBody("SCHEDULED", "name", "Late",
		"state_details", map[string]any{"scheduled_time": ts.clock().Add(-time.Hour)}))
	s := status()
	require.False(t, s.Healthy)
	require.Equal(t, int64(1), s.LateRunsCount)
}

func TestDeploymentScheduledRuns(t *testing.T) {
	t.Parallel()
	e := newPollEnv(t, map[string]any{})
	ts, now := e.ts, e.ts.clock()
	dep, _, err := ts.store.DeploymentUpsert(context.Background(), &storage.DeploymentUpsertParams{ID: uuid.New(), FlowID: e.flow.ID,
		Name: "d", WorkPoolName: new("p"), WorkQueueName: new("fast"), Now: now})
	require.NoError(t, err)
	require.Equal(t, apitype.DeploymentStatusNotReady, dep.Status)
	inDep := func(r *apitype.FlowRun) { r.DeploymentID = &dep.ID }
	e.run(&e.fast, "later", now.Add(time.Hour), inDep)
	e.run(&e.fast, "soon", now.Add(time.Second), inDep)
	e.run(&e.fast, "no-deployment", now)

	var runs []apitype.FlowRun
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/deployments/get_scheduled_flow_runs",
		map[string]any{"deployment_ids": []uuid.UUID{dep.ID, uuid.New()}, "scheduled_before": pyTime(now.Add(time.Minute))}),
		http.StatusOK, "POST", "/deployments/get_scheduled_flow_runs"), &runs))
	require.Len(t, runs, 1)
	require.Equal(t, "soon", runs[0].Name)
	got, err := ts.store.DeploymentGet(context.Background(), dep.ID)
	require.NoError(t, err)
	require.Equal(t, apitype.DeploymentStatusReady, got.Status, "the runner's poll marks it READY")
	require.Equal(t, now, *got.LastPolled)

	ts.expect(ts.do("POST", "/api/deployments/get_scheduled_flow_runs", map[string]any{}), http.StatusUnprocessableEntity,
		`{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","deployment_ids"],"msg":"Field required","type":"missing","input":{}}],"request_body":{}}`)
}
