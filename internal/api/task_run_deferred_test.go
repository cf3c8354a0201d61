package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// task.delay() creates a deferred SCHEDULED task run with no flow run. Its
// queueing effect has no task-worker queue to feed yet; the run must still be
// stored, never a 500.
func TestDeferredTaskRunIsStored(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	body := map[string]any{
		"name": "send-email", "task_key": "send_email-abc", "dynamic_key": "0",
		"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"deferred": true}},
	}
	raw := ts.ok(ts.do("POST", "/api/task_runs/", body), http.StatusCreated, "POST", "/task_runs/")
	var tr apitype.TaskRun
	require.NoError(t, json.Unmarshal(raw, &tr))
	require.NotNil(t, tr.State)
	require.Equal(t, apitype.StateTypeScheduled, tr.State.Type)
	require.Nil(t, tr.FlowRunID)
	again := ts.ok(ts.do("GET", "/api/task_runs/"+tr.ID.String(), nil), http.StatusOK, "GET", "/task_runs/{id}")
	require.Contains(t, string(again), `"SCHEDULED"`)
}
