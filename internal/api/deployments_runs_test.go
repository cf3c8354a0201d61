package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func (ts *testServer) runFromDeployment(id uuid.UUID, body any, status int) apitype.FlowRun {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/deployments/"+id.String()+"/create_flow_run", body), status, "POST", "/deployments/{id}/create_flow_run")
	var fr apitype.FlowRun
	require.NoError(ts.t, json.Unmarshal(raw, &fr))
	return fr
}

func TestDeploymentCreateFlowRun(t *testing.T) {
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	ts.createWorkPool(map[string]any{"name": "proc", "type": "process"})
	d := ts.upsertDeployment(map[string]any{"name": "dep", "flow_id": flow.ID, "work_pool_name": "proc", "tags": []string{"d"},
		"parameters": map[string]any{"a": 1, "b": 2}, "labels": map[string]any{"team": "x"}, "version": "v1",
		"parameter_openapi_schema": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "integer"},
			"b": map[string]any{"type": "integer"}}, "required": []string{"a"}}}, http.StatusCreated)

	fr := ts.runFromDeployment(d.ID, map[string]any{"parameters": map[string]any{"b": 3}, "tags": []string{"r", "d"},
		"labels": map[string]any{"run": "y"}, "job_variables": map[string]any{"env": map[string]any{"K": "V"}}}, http.StatusCreated)
	require.JSONEq(t, `{"a": 1, "b": 3}`, string(fr.Parameters), "merged over the deployment's")
	require.Equal(t, []string{"d", "r"}, fr.Tags)
	require.Equal(t, d.ID, *fr.DeploymentID)
	require.Equal(t, "v1", *fr.DeploymentVersion)
	require.Equal(t, *d.WorkQueueID, *fr.WorkQueueID)
	require.Equal(t, "default", *fr.WorkQueueName)
	require.Equal(t, apitype.StateTypeScheduled, fr.State.Type, "SCHEDULED by default")
	require.Equal(t, map[string]any{"team": "x", "run": "y", "prefect.flow.id": flow.ID.String(), "prefect.deployment.id": d.ID.String()}, fr.Labels)
	require.JSONEq(t, `{"env": {"K": "V"}}`, string(fr.JobVariables))

	// A queue of the deployment's pool, created when missing.
	fr = ts.runFromDeployment(d.ID, map[string]any{"work_queue_name": "gpu"}, http.StatusCreated)
	require.Equal(t, "gpu", *fr.WorkQueueName)
	raw := ts.ok(ts.do("GET", "/api/work_pools/proc/queues/gpu", nil), http.StatusOK, "GET", "/work_pools/{work_pool_name}/queues/{name}")
	require.Contains(t, string(raw), fr.WorkQueueID.String())

	// Idempotency key: the same run, 200.
	first := ts.runFromDeployment(d.ID, map[string]any{"idempotency_key": "k", "state": map[string]any{"type": "PENDING"}}, http.StatusCreated)
	require.Equal(t, apitype.StateTypePending, first.State.Type)
	again := ts.runFromDeployment(d.ID, map[string]any{"idempotency_key": "k"}, http.StatusOK)
	require.Equal(t, first.ID, again.ID)

	// Parameter schema enforcement.
	ts.expect(ts.do("POST", "/api/deployments/"+d.ID.String()+"/create_flow_run", map[string]any{"parameters": map[string]any{"a": "x"}}),
		http.StatusConflict, `{"detail":"Error creating flow run: Validation failed for field 'a'. Failure reason: 'x' is not of type 'integer'"}`)
	ts.runFromDeployment(d.ID, map[string]any{"parameters": map[string]any{"a": "x"}, "enforce_parameter_schema": false}, http.StatusCreated)
	ts.expect(ts.do("POST", "/api/deployments/"+uuid.NewString()+"/create_flow_run", map[string]any{}), http.StatusNotFound,
		`{"detail":"Deployment not found"}`)

	// No pool: a queue override is refused.
	loose := ts.upsertDeployment(map[string]any{"name": "loose", "flow_id": flow.ID}, http.StatusCreated)
	r := ts.do("POST", "/api/deployments/"+loose.ID.String()+"/create_flow_run", map[string]any{"work_queue_name": "q"})
	require.Equal(t, http.StatusBadRequest, r.Status)

	// Bulk: per-run results.
	raw = ts.ok(ts.do("POST", "/api/deployments/"+d.ID.String()+"/create_flow_run/bulk", []any{
		map[string]any{"name": "one"}, map[string]any{"parameters": map[string]any{"a": "bad"}},
	}), http.StatusOK, "POST", "/deployments/{id}/create_flow_run/bulk")
	var bulk struct {
		Results []struct {
			FlowRunID *uuid.UUID `json:"flow_run_id"`
			Status    string     `json:"status"`
			Error     *string    `json:"error"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(raw, &bulk))
	require.Len(t, bulk.Results, 2)
	require.Equal(t, "CREATED", bulk.Results[0].Status)
	require.NotNil(t, bulk.Results[0].FlowRunID)
	require.Equal(t, "FAILED", bulk.Results[1].Status)
	require.Contains(t, *bulk.Results[1].Error, "Parameter validation failed")
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{}
	}
	ts.expect(ts.do("POST", "/api/deployments/"+d.ID.String()+"/create_flow_run/bulk", many), http.StatusBadRequest,
		`{"detail":"Cannot create more than 100 flow runs at once."}`)
}

// TestDeploymentConcurrency runs two runs of a limit-1 deployment through
// set_state: the second waits (ENQUEUE) or is cancelled (CANCEL_NEW) until
// the first frees the slot.
func TestDeploymentConcurrency(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     apitype.StateType
		name     string
	}{
		{apitype.CollisionEnqueue, apitype.StateTypeScheduled, apitype.StateNameAwaitingConcurrencySlot},
		{apitype.CollisionCancelNew, apitype.StateTypeCancelled, "Cancelled"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			ts := newTestServer(t, nil)
			flow := ts.createFlow("etl")
			d := ts.upsertDeployment(map[string]any{"name": "dep", "flow_id": flow.ID, "concurrency_limit": 1,
				"concurrency_options": map[string]any{"collision_strategy": tc.strategy}}, http.StatusCreated)
			first := ts.runFromDeployment(d.ID, map[string]any{}, http.StatusCreated)
			second := ts.runFromDeployment(d.ID, map[string]any{}, http.StatusCreated)

			res := ts.setState("flow_runs", first.ID, http.StatusCreated, stateBody("PENDING"))
			require.Equal(t, apitype.SetStateStatusAccept, res.Status)
			require.Equal(t, 1, ts.readDeployment(d.ID).GlobalConcurrencyLimit.ActiveSlots)

			res = ts.setState("flow_runs", second.ID, http.StatusCreated, stateBody("PENDING"))
			require.Equal(t, apitype.SetStateStatusReject, res.Status)
			require.Equal(t, tc.want, res.State.Type)
			require.Equal(t, tc.name, res.State.Name)

			// The first run finishing frees the slot for another.
			ts.setState("flow_runs", first.ID, http.StatusCreated, stateBody("RUNNING"))
			ts.setState("flow_runs", first.ID, http.StatusCreated, stateBody("COMPLETED"))
			require.Equal(t, 0, ts.readDeployment(d.ID).GlobalConcurrencyLimit.ActiveSlots)
			third := ts.runFromDeployment(d.ID, map[string]any{}, http.StatusCreated)
			res = ts.setState("flow_runs", third.ID, http.StatusCreated, stateBody("PENDING"))
			require.Equal(t, apitype.SetStateStatusAccept, res.Status)
		})
	}
}

func TestDeploymentCrossFilters(t *testing.T) {
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	ts.createWorkPool(map[string]any{"name": "proc", "type": "process"})
	d := ts.upsertDeployment(map[string]any{"name": "dep", "flow_id": flow.ID, "work_pool_name": "proc"}, http.StatusCreated)
	pooled := ts.runFromDeployment(d.ID, map[string]any{}, http.StatusCreated)
	ts.createFlowRun(map[string]any{"flow_id": flow.ID})

	// What a worker polls for cancellations: its pool's runs in a state.
	ids := func(path string, body any) []uuid.UUID {
		t.Helper()
		raw := ts.ok(ts.do("POST", "/api"+path, body), http.StatusOK, "POST", path)
		var runs []apitype.FlowRun
		require.NoError(t, json.Unmarshal(raw, &runs))
		out := []uuid.UUID{}
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	require.Equal(t, []uuid.UUID{pooled.ID}, ids("/flow_runs/filter", map[string]any{
		"work_pools":       map[string]any{"name": map[string]any{"any_": []string{"proc"}}},
		"work_pool_queues": map[string]any{"name": map[string]any{"any_": []string{"default"}}},
		"flow_runs":        map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"SCHEDULED"}}}},
	}))
	require.Empty(t, ids("/flow_runs/filter", map[string]any{"work_pools": map[string]any{"name": map[string]any{"any_": []string{"other"}}}}))
	require.Equal(t, []uuid.UUID{pooled.ID}, ids("/flow_runs/filter", map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []uuid.UUID{d.ID}}}}))
	require.Equal(t, "1", string(ts.ok(ts.do("POST", "/api/flow_runs/count", map[string]any{"deployments": map[string]any{}}),
		http.StatusOK, "POST", "/flow_runs/count")))
	require.Equal(t, "1", string(ts.ok(ts.do("POST", "/api/flows/count", map[string]any{"work_pools": map[string]any{"type": map[string]any{"any_": []string{"process"}}}}),
		http.StatusOK, "POST", "/flows/count")))
	require.Equal(t, "0", string(ts.ok(ts.do("POST", "/api/task_runs/count", map[string]any{"deployments": map[string]any{}}),
		http.StatusOK, "POST", "/task_runs/count")))
}

// A deployment run's state-change events name its deployment, work queue
// and work pool, in Prefect's order, with the deployment's tags.
func TestDeploymentRunEventsRelated(t *testing.T) {
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	pool := ts.createWorkPool(map[string]any{"name": "proc", "type": "process"})
	d := ts.upsertDeployment(map[string]any{"name": "dep", "flow_id": flow.ID, "work_pool_name": "proc", "tags": []string{"dt"}}, http.StatusCreated)
	fr := ts.runFromDeployment(d.ID, map[string]any{}, http.StatusCreated)
	filter := map[string]any{"filter": map[string]any{
		"occurred": map[string]any{"since": ts.clock().Add(-time.Hour), "until": ts.clock().Add(time.Hour)},
		"resource": map[string]any{"id": []string{"prefect.flow-run." + fr.ID.String()}},
	}}
	var page apitype.EventPage
	require.Eventually(t, func() bool {
		raw := ts.ok(ts.do("POST", "/api/events/filter", filter), http.StatusOK, "POST", "/events/filter")
		require.NoError(t, json.Unmarshal(raw, &page))
		return len(page.Events) == 1
	}, 10*time.Second, 20*time.Millisecond, "events are persisted asynchronously")
	var got [][2]string
	for _, r := range page.Events[0].Related {
		got = append(got, [2]string{r.ID(), r.Role()})
	}
	require.Equal(t, [][2]string{
		{"prefect.flow." + flow.ID.String(), "flow"},
		{"prefect.deployment." + d.ID.String(), "deployment"},
		{"prefect.work-queue." + d.WorkQueueID.String(), "work-queue"},
		{"prefect.work-pool." + pool.ID.String(), "work-pool"},
		{"prefect.tag.dt", "tag"},
	}, got)
	require.Equal(t, "process", page.Events[0].Related[3]["prefect.work-pool.type"])
}
