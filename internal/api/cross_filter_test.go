package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// crossFixture: flows "ran" (a flow run "r1" with a task run "t1") and
// "idle" (no runs); artifacts on the flow run, on the task run, and free.
func crossFixture(ts *testServer) (run apitype.FlowRun, task apitype.TaskRun) {
	ran := ts.createFlow("ran", "prod")
	ts.createFlow("idle")
	run = ts.createFlowRun(map[string]any{"flow_id": ran.ID, "name": "r1"})
	task = ts.createTaskRun(map[string]any{"flow_run_id": run.ID, "task_key": "k", "dynamic_key": "0", "name": "t1"})
	ts.createArtifact(map[string]any{"key": "on-run", "flow_run_id": run.ID})
	ts.createArtifact(map[string]any{"key": "on-task", "task_run_id": task.ID})
	ts.createArtifact(map[string]any{"key": "dangling", "flow_run_id": uuid.New()})
	ts.createArtifact(map[string]any{"key": "free"})
	return run, task
}

func TestFlowCrossFilters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	run, _ := crossFixture(ts)
	names := func(body any) []string {
		var fs []apitype.Flow
		require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/flows/filter", body), http.StatusOK, "POST", "/flows/filter"), &fs))
		out := []string{}
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	byName := func(n string) map[string]any { return map[string]any{"name": map[string]any{"any_": []string{n}}} }

	require.Equal(t, []string{"idle", "ran"}, names(map[string]any{"flow_runs": nil, "task_runs": nil}))
	// As in Prefect, a set filter is an EXISTS even without criteria.
	require.Equal(t, []string{"ran"}, names(map[string]any{"flow_runs": map[string]any{}}))
	require.Equal(t, []string{"ran"}, names(map[string]any{"task_runs": map[string]any{"operator": "or_"}}))
	require.Equal(t, []string{"ran"}, names(map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []uuid.UUID{run.ID}}}}))
	require.Equal(t, []string{}, names(map[string]any{"flow_runs": byName("r1"), "task_runs": byName("nope")}))
	require.Equal(t, []string{}, names(map[string]any{"flows": byName("idle"), "flow_runs": map[string]any{}}))
	require.Equal(t, []string{}, names(map[string]any{"deployments": map[string]any{}}))

	require.Equal(t, 1, ts.count("/flows/count", map[string]any{"task_runs": byName("t1")}))
	require.Equal(t, 0, ts.count("/flows/count", map[string]any{"work_pools": map[string]any{}}))
	var page apitype.FlowPaginationResponse
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/flows/paginate", map[string]any{"flow_runs": map[string]any{}}),
		http.StatusOK, "POST", "/flows/paginate"), &page))
	require.Equal(t, int64(1), page.Count)
	require.Len(t, page.Results, 1)
	require.Equal(t, "ran", page.Results[0].Name)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/flows/paginate", map[string]any{"deployments": map[string]any{}}),
		http.StatusOK, "POST", "/flows/paginate"), &page))
	require.Equal(t, apitype.FlowPaginationResponse{Results: []apitype.Flow{}, Limit: page.Limit, Page: 1}, page)

	// bulk_delete takes only "flows", as Prefect: the run filters are ignored.
	var deleted apitype.FlowBulkDeleteResponse
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/flows/bulk_delete", map[string]any{"flows": byName("idle"), "flow_runs": map[string]any{}}),
		http.StatusOK, "POST", "/flows/bulk_delete"), &deleted))
	require.Len(t, deleted.Deleted, 1)
	require.Equal(t, []string{"ran"}, names(nil))

	r := ts.do("POST", "/api/flows/filter", map[string]any{"flow_runs": map[string]any{"id": "nope"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "body: %s", r.Body)
	r = ts.do("POST", "/api/flows/count", map[string]any{"task_runs": map[string]any{"operator": "xor_"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "body: %s", r.Body)
}

func TestArtifactCrossFilters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	run, task := crossFixture(ts)
	for _, path := range []string{"/artifacts/filter", "/artifacts/latest/filter"} {
		keys := func(body any) []string {
			var as []struct {
				Key string `json:"key"`
			}
			require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api"+path, body), http.StatusOK, "POST", path), &as))
			out := []string{}
			for _, a := range as {
				out = append(out, a.Key)
			}
			return out
		}
		sorted := map[string]any{"sort": "KEY_ASC"}
		with := func(k string, v any) map[string]any { return map[string]any{"sort": "KEY_ASC", k: v} }
		require.Equal(t, []string{"dangling", "free", "on-run", "on-task"}, keys(sorted), path)
		require.Equal(t, []string{"on-run"}, keys(with("flow_runs", map[string]any{})), path)
		require.Equal(t, []string{"on-run"}, keys(with("flows", map[string]any{"tags": map[string]any{"all_": []string{"prod"}}})), path)
		require.Equal(t, []string{}, keys(with("flows", map[string]any{"name": map[string]any{"any_": []string{"idle"}}})), path)
		require.Equal(t, []string{"on-task"}, keys(with("task_runs", map[string]any{"id": map[string]any{"any_": []uuid.UUID{task.ID}}})), path)
		require.Equal(t, []string{}, keys(with("deployments", map[string]any{})), path)
	}
	require.Equal(t, 1, ts.count("/artifacts/count", map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []uuid.UUID{run.ID}}}}))
	require.Equal(t, 1, ts.count("/artifacts/latest/count", map[string]any{"task_runs": map[string]any{}}))
	require.Equal(t, 0, ts.count("/artifacts/count", map[string]any{"deployments": map[string]any{"operator": "and_"}}))
	r := ts.do("POST", "/api/artifacts/count", map[string]any{"flows": map[string]any{"operator": "xor_"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "body: %s", r.Body)
}
