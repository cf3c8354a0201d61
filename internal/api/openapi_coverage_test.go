package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// The tests below validate, against Prefect's OpenAPI, the success
// responses (mostly 204s) the behaviour tests only check by status, so the
// coverage guard in TestMain sees every documented route. Behaviour is
// asserted where the resource's own tests live; these stay small.

func TestOpenAPIFlowAndRunWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	tr := ts.createTaskRun(map[string]any{"flow_run_id": fr.ID, "task_key": "k", "dynamic_key": "0"})
	frPath, trPath := "/api/flow_runs/"+fr.ID.String(), "/api/task_runs/"+tr.ID.String()

	ts.ok(ts.do("PATCH", "/api/flows/"+flow.ID.String(), map[string]any{"tags": []string{"x"}}), http.StatusNoContent, "PATCH", "/flows/{id}")
	ts.ok(ts.do("PATCH", frPath, map[string]any{"name": "renamed"}), http.StatusNoContent, "PATCH", "/flow_runs/{id}")
	ts.ok(ts.do("PATCH", frPath+"/labels", map[string]any{"env": "prod"}), http.StatusNoContent, "PATCH", "/flow_runs/{id}/labels")
	ts.ok(ts.do("PATCH", trPath, map[string]any{"name": "t"}), http.StatusNoContent, "PATCH", "/task_runs/{id}")

	ts.ok(ts.do("POST", frPath+"/input", map[string]any{"key": "greeting", "value": "hi"}), http.StatusCreated, "POST", "/flow_runs/{id}/input")
	ts.ok(ts.do("GET", frPath+"/input/greeting", nil), http.StatusOK, "GET", "/flow_runs/{id}/input/{key}")
	ts.ok(ts.do("DELETE", frPath+"/input/greeting", nil), http.StatusNoContent, "DELETE", "/flow_runs/{id}/input/{key}")

	logs := []map[string]any{{"name": "a", "level": 20, "message": "hello", "timestamp": "2026-03-01T12:00:00Z", "flow_run_id": fr.ID}}
	ts.ok(ts.do("POST", "/api/logs/", logs), http.StatusCreated, "POST", "/logs/")
	body := ts.ok(ts.do("GET", frPath+"/logs/download", nil), http.StatusOK, "GET", "/flow_runs/{id}/logs/download")
	require.Contains(t, string(body), "hello")

	ts.ok(ts.do("DELETE", trPath, nil), http.StatusNoContent, "DELETE", "/task_runs/{id}")
	ts.ok(ts.do("DELETE", frPath, nil), http.StatusNoContent, "DELETE", "/flow_runs/{id}")
	ts.ok(ts.do("DELETE", "/api/flows/"+flow.ID.String(), nil), http.StatusNoContent, "DELETE", "/flows/{id}")
	ts.expect(ts.do("GET", "/api/flows/"+flow.ID.String(), nil), http.StatusNotFound, `{"detail":"Flow not found"}`)
}

func TestOpenAPIArtifactAndVariableWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	art := ts.createArtifact(map[string]any{"key": "report", "data": 1})
	ts.ok(ts.do("PATCH", "/api/artifacts/"+art.ID.String(), map[string]any{"data": 2}), http.StatusNoContent, "PATCH", "/artifacts/{id}")
	ts.ok(ts.do("DELETE", "/api/artifacts/"+art.ID.String(), nil), http.StatusNoContent, "DELETE", "/artifacts/{id}")

	var v apitype.Variable
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/variables/", map[string]any{"name": "one", "value": 1}),
		http.StatusCreated, "POST", "/variables/"), &v))
	ts.ok(ts.do("POST", "/api/variables/", map[string]any{"name": "two", "value": 2}), http.StatusCreated, "POST", "/variables/")
	ts.ok(ts.do("PATCH", "/api/variables/"+v.ID.String(), map[string]any{"value": 3}), http.StatusNoContent, "PATCH", "/variables/{id}")
	ts.ok(ts.do("PATCH", "/api/variables/name/two", map[string]any{"value": 4}), http.StatusNoContent, "PATCH", "/variables/name/{name}")
	ts.ok(ts.do("DELETE", "/api/variables/"+v.ID.String(), nil), http.StatusNoContent, "DELETE", "/variables/{id}")
	ts.ok(ts.do("DELETE", "/api/variables/name/two", nil), http.StatusNoContent, "DELETE", "/variables/name/{name}")
	require.Equal(t, 0, ts.count("/variables/count", nil))
}

func TestOpenAPIConcurrencyWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	created := ts.do("POST", "/api/concurrency_limits/", map[string]any{"tag": "db", "concurrency_limit": 1})
	require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
	tagLimit := mustTagLimit(t, created.Body)
	ts.ok(ts.do("POST", "/api/concurrency_limits/tag/db/reset", map[string]any{}), http.StatusOK, "POST", "/concurrency_limits/tag/{tag}/reset")
	ts.ok(ts.do("DELETE", "/api/concurrency_limits/tag/db", nil), http.StatusOK, "DELETE", "/concurrency_limits/tag/{tag}")
	created = ts.do("POST", "/api/concurrency_limits/", map[string]any{"tag": "db", "concurrency_limit": 1})
	require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
	require.NotEqual(t, tagLimit.ID, mustTagLimit(t, created.Body).ID)
	ts.ok(ts.do("DELETE", "/api/concurrency_limits/"+mustTagLimit(t, created.Body).ID.String(), nil),
		http.StatusOK, "DELETE", "/concurrency_limits/{id}")

	ts.createLimitV2(map[string]any{"name": "pool", "limit": 2})
	ts.ok(ts.do("PATCH", "/api/v2/concurrency_limits/pool", map[string]any{"limit": 3}), http.StatusNoContent,
		"PATCH", "/v2/concurrency_limits/{id_or_name}")
	var lease apitype.ConcurrencyLimitWithLeaseResponse
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/v2/concurrency_limits/increment-with-lease",
		map[string]any{"names": []string{"pool"}, "slots": 1, "lease_duration": 60}),
		http.StatusOK, "POST", "/v2/concurrency_limits/increment-with-lease"), &lease))
	ts.ok(ts.do("POST", "/api/v2/concurrency_limits/leases/"+lease.LeaseID.String()+"/renew", map[string]any{"lease_duration": 120}),
		http.StatusNoContent, "POST", "/v2/concurrency_limits/leases/{lease_id}/renew")
	ts.ok(ts.do("POST", "/api/v2/concurrency_limits/decrement-with-lease", map[string]any{"lease_id": lease.LeaseID}),
		http.StatusNoContent, "POST", "/v2/concurrency_limits/decrement-with-lease")
	require.Equal(t, 0, ts.readLimitV2("pool").ActiveSlots)
	ts.ok(ts.do("DELETE", "/api/v2/concurrency_limits/pool", nil), http.StatusNoContent, "DELETE", "/v2/concurrency_limits/{id_or_name}")
}

func TestOpenAPIRootWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.ok(ts.do("GET", "/api/ready", nil), http.StatusOK, "GET", "/ready")
	ts.ok(ts.do("DELETE", "/api/admin/storage", nil), http.StatusNoContent, "DELETE", "/admin/storage")
	event := clientEvent("prefect.flow-run.Running", "prefect.flow-run.1", 0)
	ts.ok(ts.do("POST", "/api/events", []any{event}), http.StatusNoContent, "POST", "/events")
}
