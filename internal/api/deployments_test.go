package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// upsertDeployment posts a deployment and asserts the status (201 or 200).
func (ts *testServer) upsertDeployment(body map[string]any, status int) apitype.Deployment {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/deployments/", body), status, "POST", "/deployments/")
	var d apitype.Deployment
	require.NoError(ts.t, json.Unmarshal(raw, &d))
	return d
}

func (ts *testServer) readDeployment(id uuid.UUID) apitype.Deployment {
	ts.t.Helper()
	raw := ts.ok(ts.do("GET", "/api/deployments/"+id.String(), nil), http.StatusOK, "GET", "/deployments/{id}")
	var d apitype.Deployment
	require.NoError(ts.t, json.Unmarshal(raw, &d))
	return d
}

func TestDeploymentCreateReadUpsert(t *testing.T) {
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	d := ts.upsertDeployment(map[string]any{"name": "nightly", "flow_id": flow.ID, "tags": []string{"a"},
		"parameters": map[string]any{"n": 1}, "concurrency_limit": 2, "work_queue_name": "legacy",
		"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}, "slug": "every-minute"}},
		"labels":    map[string]any{"team": "data"}}, http.StatusCreated)
	require.Equal(t, "nightly", d.Name)
	require.Nil(t, d.ConcurrencyLimit, "always null in Prefect 3")
	require.Equal(t, 2, d.GlobalConcurrencyLimit.Limit)
	require.Equal(t, "deployment:"+d.ID.String(), d.GlobalConcurrencyLimit.Name)
	require.Equal(t, apitype.DefaultAgentWorkPool, *d.WorkPoolName)
	require.Equal(t, map[string]any{"team": "data", "prefect.flow.id": flow.ID.String()}, d.Labels)
	require.JSONEq(t, `{}`, string(d.ParameterOpenAPISchema))
	require.JSONEq(t, `[]`, string(d.PullSteps))
	require.True(t, d.EnforceParameterSchema)
	require.Equal(t, apitype.DeploymentStatusNotReady, d.Status)
	require.Len(t, d.Schedules, 1)

	// Upsert: same id, 200, schedules replaced.
	d2 := ts.upsertDeployment(map[string]any{"name": "nightly", "flow_id": flow.ID, "description": "hi"}, http.StatusOK)
	require.Equal(t, d.ID, d2.ID)
	require.Equal(t, "hi", *d2.Description)
	require.Empty(t, d2.Schedules)
	require.Equal(t, []string{"a"}, d2.Tags, "fields not sent are kept")

	raw := ts.ok(ts.do("GET", "/api/deployments/name/etl/nightly", nil), http.StatusOK, "GET", "/deployments/name/{flow_name}/{deployment_name}")
	require.Contains(t, string(raw), d.ID.String())
	ts.expect(ts.do("GET", "/api/deployments/name/etl/other", nil), http.StatusNotFound, `{"detail":"Deployment not found"}`)
	ts.expect(ts.do("GET", "/api/deployments/"+uuid.NewString(), nil), http.StatusNotFound, `{"detail":"Deployment not found"}`)

	// Errors: missing fields, missing flow, missing pool, both limits.
	r := ts.do("POST", "/api/deployments/", map[string]any{"flow_id": flow.ID})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), `"loc":["body","name"]`)
	ts.expect(ts.do("POST", "/api/deployments/", map[string]any{"name": "x", "flow_id": uuid.New()}), http.StatusConflict,
		`{"detail":"`+integrityConflictDetail+`"}`)
	ts.expect(ts.do("POST", "/api/deployments/", map[string]any{"name": "x", "flow_id": flow.ID, "work_pool_name": "nope"}),
		http.StatusNotFound, `{"detail":"Work pool \"nope\" not found."}`)
	r = ts.do("POST", "/api/deployments/", map[string]any{"name": "x", "flow_id": flow.ID, "concurrency_limit": 1,
		"global_concurrency_limit_id": uuid.New()})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	ts.expect(ts.do("POST", "/api/deployments/", map[string]any{"name": "x", "flow_id": flow.ID, "global_concurrency_limit_id": uuid.New()}),
		http.StatusNotFound, `{"detail":"Concurrency limit not found"}`)
	r = ts.do("POST", "/api/deployments/", map[string]any{"name": "x", "flow_id": flow.ID, "schedules": []any{map[string]any{"schedule": map[string]any{"every": 1}}}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	count := ts.ok(ts.do("POST", "/api/deployments/count", nil), http.StatusOK, "POST", "/deployments/count")
	require.Equal(t, "1", string(count), "no failed request wrote anything")

	// Work pools: pool only → its default queue.
	pool := ts.createWorkPool(map[string]any{"name": "proc", "type": "process"})
	d3 := ts.upsertDeployment(map[string]any{"name": "pooled", "flow_id": flow.ID, "work_pool_name": "proc"}, http.StatusCreated)
	require.Equal(t, *pool.DefaultQueueID, *d3.WorkQueueID)
	require.Equal(t, "proc", *d3.WorkPoolName)

	ts.ok(ts.do("DELETE", "/api/deployments/"+d.ID.String(), nil), http.StatusNoContent, "DELETE", "/deployments/{id}")
	ts.expect(ts.do("DELETE", "/api/deployments/"+d.ID.String(), nil), http.StatusNotFound, `{"detail":"Deployment not found"}`)
	r = ts.do("GET", "/api/concurrency_limits/"+d.GlobalConcurrencyLimit.ID.String(), nil)
	require.Equal(t, http.StatusNotFound, r.Status, "the deployment's limit went with it")
}

func TestDeploymentReads(t *testing.T) {
	ts := newTestServer(t, nil)
	f1, f2 := ts.createFlow("etl"), ts.createFlow("report")
	for _, b := range []map[string]any{
		{"name": "alpha", "flow_id": f1.ID, "tags": []string{"x"}},
		{"name": "beta", "flow_id": f1.ID, "paused": true},
		{"name": "gamma", "flow_id": f2.ID},
	} {
		ts.upsertDeployment(b, http.StatusCreated)
	}
	names := func(raw []byte) []string {
		var ds []apitype.Deployment
		require.NoError(t, json.Unmarshal(raw, &ds))
		return depNamesOf(ds)
	}
	raw := ts.ok(ts.do("POST", "/api/deployments/filter", nil), http.StatusOK, "POST", "/deployments/filter")
	require.Equal(t, []string{"alpha", "beta", "gamma"}, names(raw))
	raw = ts.ok(ts.do("POST", "/api/deployments/filter", map[string]any{"sort": "NAME_DESC", "limit": 2}), http.StatusOK, "POST", "/deployments/filter")
	require.Equal(t, []string{"gamma", "beta"}, names(raw))
	raw = ts.ok(ts.do("POST", "/api/deployments/filter", map[string]any{"flows": map[string]any{"name": map[string]any{"any_": []string{"report"}}}}),
		http.StatusOK, "POST", "/deployments/filter")
	require.Equal(t, []string{"gamma"}, names(raw))
	raw = ts.ok(ts.do("POST", "/api/deployments/filter", map[string]any{"deployments": map[string]any{
		"flow_or_deployment_name": map[string]any{"like_": "et"}, "paused": map[string]any{"eq_": false}}}), http.StatusOK, "POST", "/deployments/filter")
	require.Equal(t, []string{"alpha"}, names(raw))
	r := ts.do("POST", "/api/deployments/filter", map[string]any{"sort": "SIDEWAYS"})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)

	raw = ts.ok(ts.do("POST", "/api/deployments/paginate", map[string]any{"limit": 2, "page": 2}), http.StatusOK, "POST", "/deployments/paginate")
	var page struct {
		Results []apitype.Deployment `json:"results"`
		Count   int64                `json:"count"`
		Pages   int64                `json:"pages"`
	}
	require.NoError(t, json.Unmarshal(raw, &page))
	require.Equal(t, []string{"gamma"}, depNamesOf(page.Results))
	require.Equal(t, int64(3), page.Count)
	require.Equal(t, int64(2), page.Pages)

	// Flows with deployments, and the UI's counts.
	raw = ts.ok(ts.do("POST", "/api/flows/filter", map[string]any{"deployments": map[string]any{"tags": map[string]any{"all_": []string{"x"}}}}),
		http.StatusOK, "POST", "/flows/filter")
	require.Contains(t, string(raw), f1.ID.String())
	require.NotContains(t, string(raw), f2.ID.String())
	ts.expect(ts.do("POST", "/api/ui/flows/count-deployments", map[string]any{"flow_ids": []uuid.UUID{f1.ID, f2.ID}}), http.StatusOK,
		`{"`+f1.ID.String()+`":2,"`+f2.ID.String()+`":1}`)

	raw = ts.ok(ts.do("POST", "/api/deployments/bulk_delete", map[string]any{"deployments": map[string]any{"name": map[string]any{"any_": []string{"alpha", "gamma"}}}}),
		http.StatusOK, "POST", "/deployments/bulk_delete")
	var del struct {
		Deleted []uuid.UUID `json:"deleted"`
	}
	require.NoError(t, json.Unmarshal(raw, &del))
	require.Len(t, del.Deleted, 2)
	require.Equal(t, "1", string(ts.ok(ts.do("POST", "/api/deployments/count", nil), http.StatusOK, "POST", "/deployments/count")))
	r = ts.do("POST", "/api/deployments/bulk_delete", map[string]any{"limit": 51})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
}

func depNamesOf(ds []apitype.Deployment) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// autoRun inserts, through the store as the scheduler does, an
// auto-scheduled SCHEDULED run of the deployment due in `in`.
func (ts *testServer) autoRun(d apitype.Deployment, in time.Duration) uuid.UUID {
	ts.t.Helper()
	ctx := context.Background()
	due := ts.clock().Add(in)
	run := apitype.FlowRun{ID: uuid.New(), Name: "auto", FlowID: d.FlowID, DeploymentID: &d.ID, AutoScheduled: true}
	_, _, err := ts.store.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: run, Now: ts.clock()},
		func(ctx context.Context, tx storage.RunTx, id uuid.UUID) error {
			st := &apitype.State{ID: uuid.New(), Type: apitype.StateTypeScheduled, Name: "Scheduled", Timestamp: ts.clock(),
				StateDetails: apitype.StateDetails{ScheduledTime: &due}}
			return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: st, Now: ts.clock(), Columns: storage.RunColumns{
				StateType: &st.Type, StateName: &st.Name, StateTimestamp: &st.Timestamp, ExpectedStartTime: &due,
				NextScheduledStartTime: &due, FlowPolicy: &apitype.FlowRunPolicy{PauseKeys: []string{}}}})
		})
	require.NoError(ts.t, err)
	return run.ID
}

func (ts *testServer) runExists(id uuid.UUID) bool {
	_, err := ts.store.FlowRunGet(context.Background(), id)
	return err == nil
}

func TestDeploymentChangesDeleteAutoScheduledRuns(t *testing.T) {
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	d := ts.upsertDeployment(map[string]any{"name": "dep", "flow_id": flow.ID}, http.StatusCreated)
	past, future := ts.autoRun(d, -time.Minute), ts.autoRun(d, time.Hour)
	manual := ts.do("POST", "/api/deployments/"+d.ID.String()+"/create_flow_run", map[string]any{})
	require.Equal(t, http.StatusCreated, manual.Status)

	// A PATCH drops the future auto-scheduled runs only.
	ts.ok(ts.do("PATCH", "/api/deployments/"+d.ID.String(), map[string]any{"description": "x"}), http.StatusNoContent, "PATCH", "/deployments/{id}")
	require.False(t, ts.runExists(future))
	require.True(t, ts.runExists(past))
	// Pausing drops every auto-scheduled run still waiting.
	ts.ok(ts.do("POST", "/api/deployments/"+d.ID.String()+"/pause_deployment", nil), http.StatusOK, "POST", "/deployments/{id}/pause_deployment")
	require.False(t, ts.runExists(past))
	var fr apitype.FlowRun
	require.NoError(t, json.Unmarshal(manual.Body, &fr))
	require.True(t, ts.runExists(fr.ID), "manual runs stay")
	// Deleting the deployment drops its manual scheduled runs too.
	ts.ok(ts.do("DELETE", "/api/deployments/"+d.ID.String(), nil), http.StatusNoContent, "DELETE", "/deployments/{id}")
	require.False(t, ts.runExists(fr.ID))
}

func TestDeploymentUpdateAndSchedules(t *testing.T) {
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	d := ts.upsertDeployment(map[string]any{"name": "dep", "flow_id": flow.ID,
		"parameter_openapi_schema": map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}, "required": []string{"n"}}},
		http.StatusCreated)

	ts.ok(ts.do("PATCH", "/api/deployments/"+d.ID.String(), map[string]any{"description": "new", "tags": []string{"t"},
		"schedules": []any{map[string]any{"schedule": map[string]any{"cron": "0 * * * *"}, "slug": "hourly"}}}),
		http.StatusNoContent, "PATCH", "/deployments/{id}")
	got := ts.readDeployment(d.ID)
	require.Equal(t, "new", *got.Description)
	require.Equal(t, []string{"t"}, got.Tags)
	require.Len(t, got.Schedules, 1)
	require.Equal(t, "0 * * * *", got.Schedules[0].Schedule.Cron.Cron)

	// Every existing schedule has a slug: a schedule without one is refused,
	// a slug-matched one updates in place.
	ts.expect(ts.do("PATCH", "/api/deployments/"+d.ID.String(), map[string]any{"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 5}}}}),
		http.StatusUnprocessableEntity, `{"detail":"Please provide a slug for each schedule in your request to ensure schedules are updated correctly."}`)
	ts.ok(ts.do("PATCH", "/api/deployments/"+d.ID.String(), map[string]any{"schedules": []any{map[string]any{"slug": "hourly", "active": false}}}),
		http.StatusNoContent, "PATCH", "/deployments/{id}")
	got = ts.readDeployment(d.ID)
	require.Equal(t, got.Schedules[0].ID, ts.readDeployment(d.ID).Schedules[0].ID)
	require.False(t, got.Schedules[0].Active)

	// Parameters are checked against the schema (required not demanded).
	ts.expect(ts.do("PATCH", "/api/deployments/"+d.ID.String(), map[string]any{"parameters": map[string]any{"n": "x"}}),
		http.StatusConflict, `{"detail":"Error updating deployment: Validation failed for field 'n'. Failure reason: 'x' is not of type 'integer'"}`)
	ts.ok(ts.do("PATCH", "/api/deployments/"+d.ID.String(), map[string]any{"parameters": map[string]any{}}), http.StatusNoContent, "PATCH", "/deployments/{id}")
	ts.expect(ts.do("PATCH", "/api/deployments/"+uuid.NewString(), map[string]any{}), http.StatusNotFound, `{"detail":"Deployment not found."}`)

	// Schedule endpoints.
	raw := ts.ok(ts.do("POST", "/api/deployments/"+d.ID.String()+"/schedules", []any{map[string]any{"schedule": map[string]any{"interval": 30}, "slug": "fast"}}),
		http.StatusCreated, "POST", "/deployments/{id}/schedules")
	var created []apitype.DeploymentSchedule
	require.NoError(t, json.Unmarshal(raw, &created))
	require.Len(t, created, 1)
	ts.expect(ts.do("POST", "/api/deployments/"+d.ID.String()+"/schedules", []any{map[string]any{"schedule": map[string]any{"interval": 30}, "slug": "fast"}}),
		http.StatusConflict, `{"detail":"Schedule slugs must be unique within a deployment."}`)
	raw = ts.ok(ts.do("GET", "/api/deployments/"+d.ID.String()+"/schedules", nil), http.StatusOK, "GET", "/deployments/{id}/schedules")
	var list []apitype.DeploymentSchedule
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Len(t, list, 2)
	ts.ok(ts.do("PATCH", "/api/deployments/"+d.ID.String()+"/schedules/"+created[0].ID.String(), map[string]any{"active": false}),
		http.StatusNoContent, "PATCH", "/deployments/{id}/schedules/{schedule_id}")
	ts.expect(ts.do("PATCH", "/api/deployments/"+d.ID.String()+"/schedules/"+uuid.NewString(), map[string]any{"active": false}),
		http.StatusNotFound, `{"detail":"Schedule not found."}`)
	ts.ok(ts.do("DELETE", "/api/deployments/"+d.ID.String()+"/schedules/"+created[0].ID.String(), nil),
		http.StatusNoContent, "DELETE", "/deployments/{id}/schedules/{schedule_id}")
	ts.expect(ts.do("DELETE", "/api/deployments/"+d.ID.String()+"/schedules/"+created[0].ID.String(), nil),
		http.StatusNotFound, `{"detail":"Schedule not found."}`)
	ts.expect(ts.do("GET", "/api/deployments/"+uuid.NewString()+"/schedules", nil), http.StatusNotFound, `{"detail":"Deployment not found."}`)

	// Pause and resume; work_queue_check.
	ts.ok(ts.do("POST", "/api/deployments/"+d.ID.String()+"/pause_deployment", nil), http.StatusOK, "POST", "/deployments/{id}/pause_deployment")
	require.True(t, ts.readDeployment(d.ID).Paused)
	ts.ok(ts.do("POST", "/api/deployments/"+d.ID.String()+"/resume_deployment", nil), http.StatusOK, "POST", "/deployments/{id}/resume_deployment")
	require.False(t, ts.readDeployment(d.ID).Paused)
	ts.expect(ts.do("POST", "/api/deployments/"+uuid.NewString()+"/pause_deployment", nil), http.StatusNotFound, `{"detail":"Deployment not found"}`)
	ts.ok(ts.do("GET", "/api/deployments/"+d.ID.String()+"/work_queue_check", nil), http.StatusOK, "GET", "/deployments/{id}/work_queue_check")
}
