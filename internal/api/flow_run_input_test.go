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

func inputPath(id uuid.UUID, rest string) string {
	return "/api/flow_runs/" + id.String() + "/input" + rest
}

func TestFlowRunInputEndpoints(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})

	res := ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": "greeting", "value": `{"hi": 1}`, "sender": "me"})
	ts.ok(res, http.StatusCreated, "POST", "/flow_runs/{id}/input")
	ts.advance(time.Second)
	ts.ok(ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": "greeting-2", "value": "plain"}), http.StatusCreated,
		"POST", "/flow_runs/{id}/input")

	// Read answers the stored text verbatim.
	got := ts.do("GET", inputPath(fr.ID, "/greeting"), nil)
	require.Equal(t, http.StatusOK, got.Status)
	require.Equal(t, `{"hi": 1}`, string(got.Body))
	require.Contains(t, got.Header.Get("Content-Type"), "text/plain")

	raw := ts.ok(ts.do("POST", inputPath(fr.ID, "/filter"), map[string]any{"prefix": "greet", "limit": 5}),
		http.StatusOK, "POST", "/flow_runs/{id}/input/filter")
	var list []apitype.FlowRunInput
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Len(t, list, 2)
	require.Equal(t, "greeting", list[0].Key)
	require.Equal(t, "me", *list[0].Sender)
	require.Nil(t, list[1].Sender)
	// The default limit is 1; exclude_keys drops keys.
	raw = ts.ok(ts.do("POST", inputPath(fr.ID, "/filter"), map[string]any{"prefix": "greet", "exclude_keys": []string{"greeting"}}),
		http.StatusOK, "POST", "/flow_runs/{id}/input/filter")
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Len(t, list, 1)
	require.Equal(t, "greeting-2", list[0].Key)

	ts.expect(ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": "greeting", "value": "again"}), http.StatusConflict,
		`{"detail":"A flow run input with this key already exists."}`)
	ts.expect(ts.do("POST", inputPath(uuid.New(), ""), map[string]any{"key": "k", "value": "v"}), http.StatusNotFound,
		`{"detail":"Flow run not found"}`)
	bad := ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": "Not_Valid", "value": "v"})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.Contains(t, string(bad.Body), "lowercase letters, numbers, and dashes")
	missing := ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": "k"})
	require.Equal(t, http.StatusUnprocessableEntity, missing.Status)
	require.Contains(t, string(missing.Body), `"loc":["body","value"]`)

	require.Equal(t, http.StatusNoContent, ts.do("DELETE", inputPath(fr.ID, "/greeting"), nil).Status)
	ts.expect(ts.do("DELETE", inputPath(fr.ID, "/greeting"), nil), http.StatusNotFound, `{"detail":"Flow run input not found"}`)
	ts.expect(ts.do("GET", inputPath(fr.ID, "/greeting"), nil), http.StatusNotFound, `{"detail":"Flow run input not found"}`)
}

// pauseForInput takes a run to RUNNING, then PAUSED waiting for input under
// key "1", with a schema requiring an integer "n".
func pauseForInput(ts *testServer, fr apitype.FlowRun, storeSchema bool) {
	ts.t.Helper()
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))
	ts.advance(time.Second)
	keyset := map[string]string{"description": "paused-1-description", "response": "paused-1-response", "schema": "paused-1-schema"}
	res := ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("PAUSED", "state_details", map[string]any{
		"pause_key": "1", "pause_timeout": ts.clock().Add(time.Hour), "run_input_keyset": keyset}))
	require.Equal(ts.t, apitype.SetStateStatusAccept, res.Status)
	if storeSchema {
		schema := `{"title":"In","type":"object","properties":{"n":{"title":"N","type":"integer"},"note":{"type":"string"}},"required":["n"]}`
		ts.ok(ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": "paused-1-schema", "value": schema}),
			http.StatusCreated, "POST", "/flow_runs/{id}/input")
	}
	ts.advance(time.Second)
}

func (ts *testServer) resume(id uuid.UUID, status int, body any) apitype.OrchestrationResult {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/flow_runs/"+id.String()+"/resume", body), status, "POST", "/flow_runs/{id}/resume")
	var res apitype.OrchestrationResult
	require.NoError(ts.t, json.Unmarshal(raw, &res))
	return res
}

func TestFlowRunResumeWithInput(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})

	res := ts.resume(fr.ID, http.StatusOK, map[string]any{})
	require.Equal(t, apitype.SetStateStatusAbort, res.Status)
	require.Equal(t, "Cannot resume a flow run that is not paused.", *res.Details.Reason)
	require.Nil(t, res.State)

	pauseForInput(ts, fr, true)
	// Invalid input is rejected with the reason and the run stays paused.
	res = ts.resume(fr.ID, http.StatusOK, map[string]any{"run_input": map[string]any{"n": "x"}})
	require.Equal(t, apitype.SetStateStatusReject, res.Status)
	require.Equal(t, apitype.DetailsTypeAbort, res.Details.Type)
	require.Contains(t, *res.Details.Reason, "Validation failed for field 'n'")
	require.Equal(t, apitype.StateTypePaused, res.State.Type)
	res = ts.resume(fr.ID, http.StatusOK, nil)
	require.Equal(t, apitype.SetStateStatusReject, res.Status)
	require.Equal(t, "Reason: Validation failed. Failure reason: 'n' is a required property", *res.Details.Reason)
	require.Equal(t, apitype.StateTypePaused, *ts.readFlowRun(fr.ID).StateType)
	ts.expect(ts.do("GET", inputPath(fr.ID, "/paused-1-response"), nil), http.StatusNotFound, `{"detail":"Flow run input not found"}`)

	res = ts.resume(fr.ID, http.StatusCreated, map[string]any{"run_input": map[string]any{"n": 3, "note": "go"}})
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, apitype.StateTypeRunning, res.State.Type)
	got := ts.do("GET", inputPath(fr.ID, "/paused-1-response"), nil)
	require.Equal(t, http.StatusOK, got.Status)
	require.JSONEq(t, `{"n":3,"note":"go"}`, string(got.Body))
}

func TestFlowRunResumeWithoutSchemaOrKeyset(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	pauseForInput(ts, fr, false)
	res := ts.resume(fr.ID, http.StatusOK, map[string]any{"run_input": map[string]any{"n": 1}})
	require.Equal(t, apitype.SetStateStatusReject, res.Status)
	require.Equal(t, "Run input schema not found.", *res.Details.Reason)

	// A plain pause resumes to RUNNING; run_input is ignored.
	plain := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.setState("flow_runs", plain.ID, http.StatusCreated, stateBody("RUNNING"))
	ts.advance(time.Second)
	ts.setState("flow_runs", plain.ID, http.StatusCreated, stateBody("PAUSED", "state_details",
		map[string]any{"pause_key": "1", "pause_timeout": ts.clock().Add(time.Hour)}))
	ts.advance(time.Second)
	res = ts.resume(plain.ID, http.StatusCreated, map[string]any{"run_input": map[string]any{"n": 1}})
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, apitype.StateTypeRunning, res.State.Type)
	ts.expect(ts.do("POST", "/api/flow_runs/"+uuid.NewString()+"/resume", map[string]any{}), http.StatusNotFound,
		`{"detail":"Flow run not found"}`)
}

// A pause past its timeout cannot resume: the run fails instead.
func TestFlowRunResumeAfterPauseTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))
	ts.advance(time.Second)
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("PAUSED", "state_details",
		map[string]any{"pause_key": "1", "pause_timeout": ts.clock().Add(2 * time.Second)}))
	ts.advance(5 * time.Second)
	res := ts.resume(fr.ID, http.StatusCreated, map[string]any{})
	require.Equal(t, apitype.SetStateStatusReject, res.Status)
	require.Equal(t, apitype.StateTypeFailed, res.State.Type)
	require.Equal(t, apitype.StateTypeFailed, *ts.readFlowRun(fr.ID).StateType)
}

// Pausing under a keyset deletes input an earlier attempt left there
// (orchestration's DeleteFlowRunInput effect), in the same transaction.
func TestPauseDeletesStaleRunInput(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	for _, k := range []string{"paused-1-response", "paused-1-schema", "unrelated"} {
		ts.ok(ts.do("POST", inputPath(fr.ID, ""), map[string]any{"key": k, "value": "old"}), http.StatusCreated, "POST", "/flow_runs/{id}/input")
	}
	pauseForInput(ts, fr, false)
	ts.expect(ts.do("GET", inputPath(fr.ID, "/paused-1-response"), nil), http.StatusNotFound, `{"detail":"Flow run input not found"}`)
	ts.expect(ts.do("GET", inputPath(fr.ID, "/paused-1-schema"), nil), http.StatusNotFound, `{"detail":"Flow run input not found"}`)
	require.Equal(t, http.StatusOK, ts.do("GET", inputPath(fr.ID, "/unrelated"), nil).Status)
}

func TestFlowRunBulkSetState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	a := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "tags": []string{"bulk"}})
	b := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "tags": []string{"bulk"}})
	other := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.advance(time.Second)
	body := map[string]any{"flow_runs": map[string]any{"tags": map[string]any{"all_": []string{"bulk"}}},
		"state": map[string]any{"type": "CANCELLED"}}
	raw := ts.ok(ts.do("POST", "/api/flow_runs/bulk_set_state", body), http.StatusOK, "POST", "/flow_runs/bulk_set_state")
	var resp apitype.FlowRunBulkSetStateResponse
	require.NoError(t, json.Unmarshal(raw, &resp))
	require.Len(t, resp.Results, 2)
	ids := []uuid.UUID{resp.Results[0].FlowRunID, resp.Results[1].FlowRunID}
	require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, ids)
	for _, r := range resp.Results {
		require.Equal(t, apitype.SetStateStatusAccept, r.Status)
		require.Equal(t, apitype.StateTypeCancelled, r.State.Type)
	}
	require.NotEqual(t, resp.Results[0].State.ID, resp.Results[1].State.ID, "each run gets its own state")
	require.Equal(t, apitype.StateTypePending, *ts.readFlowRun(other.ID).StateType)

	// Orchestration applies per run: CANCELLED → PENDING aborts, unless forced.
	raw = ts.ok(ts.do("POST", "/api/flow_runs/bulk_set_state", map[string]any{"flow_runs": body["flow_runs"],
		"state": map[string]any{"type": "PENDING"}, "limit": 1}), http.StatusOK, "POST", "/flow_runs/bulk_set_state")
	require.NoError(t, json.Unmarshal(raw, &resp))
	require.Len(t, resp.Results, 1)
	require.Equal(t, apitype.SetStateStatusAbort, resp.Results[0].Status)
	require.Equal(t, max(a.ID.String(), b.ID.String()), resp.Results[0].FlowRunID.String(), "newest id first")
	raw = ts.ok(ts.do("POST", "/api/flow_runs/bulk_set_state", map[string]any{"flow_runs": body["flow_runs"],
		"state": map[string]any{"type": "PENDING"}, "force": true}), http.StatusOK, "POST", "/flow_runs/bulk_set_state")
	require.NoError(t, json.Unmarshal(raw, &resp))
	require.Len(t, resp.Results, 2)
	require.Equal(t, apitype.SetStateStatusAccept, resp.Results[0].Status)
	require.Equal(t, apitype.StateTypePending, *ts.readFlowRun(a.ID).StateType)

	raw = ts.ok(ts.do("POST", "/api/flow_runs/bulk_set_state", map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []uuid.UUID{}}},
		"state": map[string]any{"type": "RUNNING"}}), http.StatusOK, "POST", "/flow_runs/bulk_set_state")
	require.JSONEq(t, `{"results":[]}`, string(raw))

	for _, bad := range []map[string]any{{}, {"state": map[string]any{"type": "NOPE"}},
		{"state": map[string]any{"type": "RUNNING"}, "limit": 51}, {"state": map[string]any{"type": "RUNNING"}, "limit": 0}} {
		require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/flow_runs/bulk_set_state", bad).Status, "%v", bad)
	}
}
