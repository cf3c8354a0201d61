package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/storage"
)

// sdkTaskRunEvent is a prefect.task-run.<name> event as the SDK sends it,
// n ms after start.
func sdkTaskRunEvent(runID, flowRunID uuid.UUID, key, typ, name string, start time.Time, n int) map[string]any {
	ts := start.Add(time.Duration(n) * time.Millisecond)
	taskRun := map[string]any{"name": key + "-run", "task_key": key, "dynamic_key": "0",
		"empirical_policy": map[string]any{"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0, "retry_delay": 0},
		"tags":             []string{"etl"}, "labels": map[string]any{}, "task_inputs": map[string]any{"x": []any{}},
		"run_count": 1, "flow_run_run_count": 1, "expected_start_time": start.Format(time.RFC3339Nano), "total_run_time": 0.0}
	if typ != "PENDING" {
		taskRun["start_time"] = start.Add(time.Millisecond).Format(time.RFC3339Nano)
	}
	if typ == "COMPLETED" {
		taskRun["end_time"] = ts.Format(time.RFC3339Nano)
	}
	return map[string]any{
		"id": uuid.NewString(), "occurred": ts.Format(time.RFC3339Nano), "event": "prefect.task-run." + name,
		"resource": map[string]string{"prefect.resource.id": "prefect.task-run." + runID.String(), "prefect.resource.name": key + "-run",
			"prefect.state-name": name, "prefect.state-type": typ, "prefect.orchestration": "client"},
		"related": []map[string]string{{"prefect.resource.id": "prefect.flow-run." + flowRunID.String(),
			"prefect.resource.role": "flow-run", "prefect.resource.name": "fr"}},
		"payload": map[string]any{
			"intended":        map[string]any{"from": nil, "to": typ},
			"validated_state": map[string]any{"type": typ, "name": name, "message": "", "state_details": map[string]any{}, "data": nil},
			"task_run":        taskRun,
		},
	}
}

// lateRecordStore lets a test hand the recorder a store opened after the
// pipeline started.
type lateRecordStore struct{ storage.TaskRunRecordStore }

func TestTaskRunEventsAreRecorded(t *testing.T) {
	late := &lateRecordStore{}
	es := newEventsServer(t, eventsAuth, events.Options{TaskRuns: late})
	late.TaskRunRecordStore = es.store
	auth := []string{"Authorization", basicHeader(testAuth)}

	flow := es.ok(es.do("POST", "/api/flows/", map[string]any{"name": "etl"}, auth...), 201, "POST", "/flows/")
	var f apitype.Flow
	require.NoError(t, json.Unmarshal(flow, &f))
	body := es.ok(es.do("POST", "/api/flow_runs/", map[string]any{"flow_id": f.ID}, auth...), 201, "POST", "/flow_runs/")
	var fr apitype.FlowRun
	require.NoError(t, json.Unmarshal(body, &fr))

	start := es.now.Add(-time.Minute)
	extract, load := uuid.New(), uuid.New()
	done := sdkTaskRunEvent(extract, fr.ID, "extract", "COMPLETED", "Completed", start, 30)
	in := es.wsConnect("/api/events/in")
	for _, e := range []map[string]any{
		sdkTaskRunEvent(extract, fr.ID, "extract", "PENDING", "Pending", start, 10),
		done, // before its Running: out of order
		sdkTaskRunEvent(extract, fr.ID, "extract", "RUNNING", "Running", start, 20),
		done, // a resend after a reconnect
		sdkTaskRunEvent(load, fr.ID, "load", "PENDING", "Pending", start, 40),
		sdkTaskRunEvent(load, fr.ID, "load", "RUNNING", "Running", start, 50),
	} {
		sendJSON(t, in, e)
	}
	// The server answers the close frame only after publishing every frame
	// read before it.
	require.NoError(t, in.Close(websocket.StatusNormalClosure, ""))
	require.NoError(t, es.events.FlushTaskRuns(context.Background()))

	body = es.ok(es.do("POST", "/api/task_runs/filter", map[string]any{
		"flow_runs": map[string]any{"id": map[string]any{"any_": []string{fr.ID.String()}}},
		"sort":      "EXPECTED_START_TIME_ASC",
	}, auth...), 200, "POST", "/task_runs/filter")
	var runs []apitype.TaskRun
	require.NoError(t, json.Unmarshal(body, &runs))
	require.Len(t, runs, 2)
	byName := map[string]apitype.TaskRun{}
	for _, r := range runs {
		byName[r.Name] = r
	}
	ex, ld := byName["extract-run"], byName["load-run"]
	require.Equal(t, extract, ex.ID)
	require.Equal(t, fr.ID, *ex.FlowRunID)
	require.Equal(t, apitype.StateTypeCompleted, *ex.StateType)
	require.Equal(t, "Completed", ex.State.Name)
	require.Equal(t, done["id"], ex.State.ID.String())
	require.Equal(t, extract, *ex.State.StateDetails.TaskRunID)
	require.Equal(t, []string{"etl"}, ex.Tags)
	require.NotNil(t, ex.EndTime)
	require.Equal(t, "Running", *ld.StateName)

	body = es.ok(es.do("GET", "/api/task_run_states/?task_run_id="+extract.String(), nil, auth...), 200, "GET", "/task_run_states/")
	var states []apitype.State
	require.NoError(t, json.Unmarshal(body, &states))
	var names []string
	for _, s := range states {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"Pending", "Running", "Completed"}, names, "every state once, in time order")

	body = es.ok(es.do("POST", "/api/task_runs/count", map[string]any{
		"task_runs": map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}}},
	}, auth...), 200, "POST", "/task_runs/count")
	require.Equal(t, "1", string(body))
}
