package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func (ts *testServer) createWorkPool(body any) apitype.WorkPool {
	ts.t.Helper()
	var p apitype.WorkPool
	require.NoError(ts.t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_pools/", body), http.StatusCreated, "POST", "/work_pools/"), &p))
	return p
}

func TestWorkPoolCRUD(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	p := ts.createWorkPool(map[string]any{"name": "my-pool", "type": "process",
		"base_job_template": map[string]any{"job_configuration": map[string]any{"command": "{{ command }}"}}})
	require.Equal(t, "process", p.Type)
	require.Equal(t, apitype.WorkPoolStatusNotReady, *p.Status)
	require.NotNil(t, p.DefaultQueueID)
	require.Nil(t, p.ActiveSlots)

	agent := ts.createWorkPool(map[string]any{"name": "legacy", "concurrency_limit": 2})
	require.Equal(t, apitype.WorkPoolTypeAgent, agent.Type, "Prefect's default type")
	require.Nil(t, agent.Status)
	require.Equal(t, int64(0), *agent.ActiveSlots)

	ts.expect(ts.do("POST", "/api/work_pools/", map[string]any{"name": "my-pool"}), http.StatusConflict,
		`{"detail":"A work pool with this name already exists."}`)
	ts.expect(ts.do("POST", "/api/work_pools/", map[string]any{"name": "Prefect-managed"}), http.StatusForbidden,
		`{"detail":"Work pools starting with 'Prefect' are reserved for internal use."}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/work_pools/", map[string]any{"name": "a/b"}).Status)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/work_pools/", map[string]any{"name": "x", "concurrency_limit": -1}).Status)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/work_pools/", map[string]any{"name": "x", "base_job_template": []int{1}}).Status)

	got := ts.ok(ts.do("GET", "/api/work_pools/my-pool", nil), http.StatusOK, "GET", "/work_pools/{name}")
	require.Contains(t, string(got), `"command":"{{ command }}"`)
	ts.expect(ts.do("GET", "/api/work_pools/missing", nil), http.StatusNotFound, `{"detail":"Work pool \"missing\" not found."}`)

	var list []apitype.WorkPool
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_pools/filter",
		map[string]any{"work_pools": map[string]any{"type": map[string]any{"any_": []string{"process"}}}}),
		http.StatusOK, "POST", "/work_pools/filter"), &list))
	require.Len(t, list, 1)
	require.Equal(t, "my-pool", list[0].Name)
	require.Equal(t, "2", string(ts.ok(ts.do("POST", "/api/work_pools/count", nil), http.StatusOK, "POST", "/work_pools/count")))

	ts.ok(ts.do("PATCH", "/api/work_pools/my-pool", map[string]any{"is_paused": true, "description": "d"}),
		http.StatusNoContent, "PATCH", "/work_pools/{name}")
	var upd apitype.WorkPool
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_pools/my-pool", nil), http.StatusOK, "GET", "/work_pools/{name}"), &upd))
	require.Equal(t, apitype.WorkPoolStatusPaused, *upd.Status)
	require.Equal(t, "d", *upd.Description)
	ts.expect(ts.do("PATCH", "/api/work_pools/missing", map[string]any{"is_paused": true}), http.StatusNotFound,
		`{"detail":"Work pool \"missing\" not found."}`)
	ts.expect(ts.do("PATCH", "/api/work_pools/prefect-x", map[string]any{"description": "no"}), http.StatusForbidden,
		`{"detail":"Work pools starting with 'Prefect' are reserved for internal use and can only be updated to set concurrency limits or pause."}`)
	ts.expect(ts.do("DELETE", "/api/work_pools/prefect-x", nil), http.StatusForbidden,
		`{"detail":"Work pools starting with 'Prefect' are reserved for internal use and can not be deleted."}`)

	ts.ok(ts.do("DELETE", "/api/work_pools/my-pool", nil), http.StatusNoContent, "DELETE", "/work_pools/{name}")
	ts.expect(ts.do("DELETE", "/api/work_pools/my-pool", nil), http.StatusNotFound, `{"detail":"Work pool \"my-pool\" not found."}`)
}

func TestWorkPoolQueues(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.createWorkPool(map[string]any{"name": "pool", "type": "process"})
	base := "/api/work_pools/pool/queues"

	var q apitype.WorkQueue
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", base, map[string]any{"name": "high", "priority": 1}),
		http.StatusCreated, "POST", "/work_pools/{work_pool_name}/queues"), &q))
	require.Equal(t, int64(1), q.Priority)
	require.Equal(t, "pool", q.WorkPoolName)
	require.Equal(t, apitype.WorkQueueStatusNotReady, q.Status)
	ts.expect(ts.do("POST", base, map[string]any{"name": "high"}), http.StatusConflict,
		`{"detail":"A work queue with this name already exists in work pool {work_pool_name!r}."}`)
	ts.expect(ts.do("POST", "/api/work_pools/nope/queues", map[string]any{"name": "q"}), http.StatusNotFound,
		`{"detail":"Work pool \"nope\" not found."}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", base, map[string]any{"name": "z", "priority": 0}).Status)

	var qs []apitype.WorkQueue
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", base+"/filter", nil), http.StatusOK, "POST", "/work_pools/{work_pool_name}/queues/filter"), &qs))
	require.Len(t, qs, 2)
	require.Equal(t, []string{"high", "default"}, []string{qs[0].Name, qs[1].Name}, "the given priority shifted default down")
	require.Equal(t, int64(2), qs[1].Priority)

	ts.ok(ts.do("GET", base+"/high", nil), http.StatusOK, "GET", "/work_pools/{work_pool_name}/queues/{name}")
	ts.expect(ts.do("GET", base+"/missing", nil), http.StatusNotFound, `{"detail":"Work pool queue 'pool/missing' not found."}`)
	ts.ok(ts.do("PATCH", base+"/high", map[string]any{"priority": 5, "is_paused": true}), http.StatusNoContent,
		"PATCH", "/work_pools/{work_pool_name}/queues/{name}")
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", base+"/high", nil), http.StatusOK, "GET", "/work_pools/{work_pool_name}/queues/{name}"), &q))
	require.Equal(t, int64(5), q.Priority)
	require.Equal(t, apitype.WorkQueueStatusPaused, q.Status)

	ts.expect(ts.do("DELETE", base+"/default", nil), http.StatusConflict, `{"detail":"Can't delete a pool's default queue."}`)
	ts.ok(ts.do("DELETE", base+"/high", nil), http.StatusNoContent, "DELETE", "/work_pools/{work_pool_name}/queues/{name}")
	ts.expect(ts.do("DELETE", base+"/high", nil), http.StatusNotFound, `{"detail":"Work pool queue 'pool/high' not found."}`)
}

func TestWorkQueuesTopLevel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	var q apitype.WorkQueue
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_queues/", map[string]any{"name": "legacy", "concurrency_limit": 1}),
		http.StatusCreated, "POST", "/work_queues/"), &q))
	require.Equal(t, apitype.DefaultAgentWorkPool, q.WorkPoolName, "queues without a pool go to the agent pool")
	require.Equal(t, int64(0), *q.ActiveSlots)
	ts.expect(ts.do("POST", "/api/work_queues/", map[string]any{"name": "legacy"}), http.StatusConflict,
		`{"detail":"A work queue with this name already exists."}`)
	byID := "/api/work_queues/" + q.ID.String()

	ts.ok(ts.do("GET", byID, nil), http.StatusOK, "GET", "/work_queues/{id}")
	ts.ok(ts.do("GET", "/api/work_queues/name/legacy", nil), http.StatusOK, "GET", "/work_queues/name/{name}")
	ts.expect(ts.do("GET", "/api/work_queues/name/missing", nil), http.StatusNotFound, `{"detail":"work queue not found"}`)
	var qs []apitype.WorkQueue
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", "/api/work_queues/filter",
		map[string]any{"work_queues": map[string]any{"name": map[string]any{"startswith_": []string{"LEG"}}}}),
		http.StatusOK, "POST", "/work_queues/filter"), &qs))
	require.Len(t, qs, 1)
	require.Equal(t, q.ID, qs[0].ID)

	// Status: healthy only while polled within the last minute.
	var st map[string]any
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", byID+"/status", nil), http.StatusOK, "GET", "/work_queues/{id}/status"), &st))
	require.Equal(t, false, st["healthy"])
	ts.ok(ts.do("PATCH", byID, map[string]any{"last_polled": ts.clock().Format(time.RFC3339Nano)}), http.StatusNoContent, "PATCH", "/work_queues/{id}")
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", byID+"/status", nil), http.StatusOK, "GET", "/work_queues/{id}/status"), &st))
	require.Equal(t, true, st["healthy"])
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", byID, nil), http.StatusOK, "GET", "/work_queues/{id}"), &q))
	require.Equal(t, apitype.WorkQueueStatusReady, q.Status)
	ts.advance(2 * time.Minute)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", byID, nil), http.StatusOK, "GET", "/work_queues/{id}"), &q))
	require.Equal(t, apitype.WorkQueueStatusNotReady, q.Status)
	ts.expect(ts.do("GET", "/api/work_queues/6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11/status", nil), http.StatusNotFound,
		`{"exception_message":"Work queue with id 6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11 not found"}`)
	require.Equal(t, http.StatusNotFound, ts.do("GET", byID+"/other", nil).Status)

	ts.ok(ts.do("DELETE", byID, nil), http.StatusNoContent, "DELETE", "/work_queues/{id}")
	ts.expect(ts.do("DELETE", byID, nil), http.StatusNotFound, `{"detail":"work queue not found"}`)
	ts.expect(ts.do("PATCH", byID, map[string]any{"is_paused": true}), http.StatusNotFound,
		`{"detail":"Work Queue `+q.ID.String()+` not found"}`)
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.createWorkPool(map[string]any{"name": "pool", "type": "process"})
	hb := "/api/work_pools/pool/workers/heartbeat"
	ts.ok(ts.do("POST", hb, map[string]any{"name": "w1", "heartbeat_interval_seconds": 10}), http.StatusNoContent,
		"POST", "/work_pools/{work_pool_name}/workers/heartbeat")
	ts.expect(ts.do("POST", "/api/work_pools/nope/workers/heartbeat", map[string]any{"name": "w"}), http.StatusNotFound,
		`{"detail":"Work pool \"nope\" not found."}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", hb, map[string]any{}).Status)

	var p apitype.WorkPool
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_pools/pool", nil), http.StatusOK, "GET", "/work_pools/{name}"), &p))
	require.Equal(t, apitype.WorkPoolStatusReady, *p.Status, "an online worker makes the pool ready")

	var ws []apitype.Worker
	filter := "/api/work_pools/pool/workers/filter"
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", filter, nil), http.StatusOK, "POST", "/work_pools/{work_pool_name}/workers/filter"), &ws))
	require.Len(t, ws, 1)
	require.Equal(t, apitype.WorkerStatusOnline, ws[0].Status)

	ts.advance(31 * time.Second) // past 3 × 10s without a heartbeat
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("POST", filter, map[string]any{"workers": map[string]any{"status": map[string]any{"any_": []string{"OFFLINE"}}}}),
		http.StatusOK, "POST", "/work_pools/{work_pool_name}/workers/filter"), &ws))
	require.Len(t, ws, 1)
	require.Equal(t, apitype.WorkerStatusOffline, ws[0].Status)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", "/api/work_pools/pool", nil), http.StatusOK, "GET", "/work_pools/{name}"), &p))
	require.Equal(t, apitype.WorkPoolStatusNotReady, *p.Status)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", filter,
		map[string]any{"workers": map[string]any{"status": map[string]any{"any_": []string{"BUSY"}}}}).Status)

	ts.ok(ts.do("DELETE", "/api/work_pools/pool/workers/w1", nil), http.StatusNoContent, "DELETE", "/work_pools/{work_pool_name}/workers/{name}")
	ts.expect(ts.do("DELETE", "/api/work_pools/pool/workers/w1", nil), http.StatusNotFound, `{"detail":"Worker not found."}`)
	ts.expect(ts.do("POST", "/api/work_pools/nope/workers/filter", nil), http.StatusNotFound, `{"detail":"Work pool \"nope\" not found."}`)
}
