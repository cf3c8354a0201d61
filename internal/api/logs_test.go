package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

const runA = "6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11"

func (ts *testServer) filterLogs(body any) []apitype.Log {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/logs/filter", body), http.StatusOK, "POST", "/logs/filter")
	var logs []apitype.Log
	require.NoError(ts.t, json.Unmarshal(raw, &logs))
	return logs
}

func logMessages(logs []apitype.Log) []string {
	out := make([]string, len(logs))
	for i, l := range logs {
		out[i] = l.Message
	}
	return out
}

func TestLogCreateAndFilter(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	res := ts.do("POST", "/api/logs/", []map[string]any{
		{"name": "prefect.flow_runs", "level": 20, "message": "second", "timestamp": "2026-03-01T10:00:01.5+01:00", "flow_run_id": runA},
		{"name": "prefect.task_runs", "level": 40, "message": "first\x00 with NUL", "timestamp": "2026-03-01T09:00:00Z",
			"flow_run_id": runA, "task_run_id": "7e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11"},
		{"name": "other", "level": 10, "message": "naive", "timestamp": "2026-03-01 09:30:00", "flow_run_id": nil},
	})
	ts.ok(res, http.StatusCreated, "POST", "/logs/")
	require.Equal(t, "null", string(res.Body))

	logs := ts.filterLogs(map[string]any{})
	require.Equal(t, []string{"first with NUL", "second", "naive"}, logMessages(logs))
	require.Equal(t, "2026-03-01T09:00:01.5Z", logs[1].Timestamp.Format("2006-01-02T15:04:05.999999Z07:00"))
	require.Equal(t, "2026-03-01T09:30:00Z", logs[2].Timestamp.Format("2006-01-02T15:04:05.999999Z07:00"), "naive means UTC")
	require.Equal(t, ts.clock(), logs[0].Created)
	require.Nil(t, logs[2].FlowRunID)
	require.Equal(t, runA, logs[1].FlowRunID.String())
	require.EqualValues(t, 7, logs[0].ID.Version(), "log ids are UUIDv7")

	raw := ts.ok(ts.do("POST", "/api/logs/filter", `{"logs": null}`), http.StatusOK, "POST", "/logs/filter")
	require.Contains(t, string(raw), `"task_run_id":null`)

	got := ts.filterLogs(map[string]any{"sort": "TIMESTAMP_DESC", "limit": 2, "offset": 0,
		"logs": map[string]any{"flow_run_id": map[string]any{"any_": []string{runA}}}})
	require.Equal(t, []string{"second", "first with NUL"}, logMessages(got))
	got = ts.filterLogs(map[string]any{"logs": map[string]any{
		"level": map[string]any{"ge_": 15}, "task_run_id": map[string]any{"is_null_": true}}})
	require.Equal(t, []string{"second"}, logMessages(got))
	got = ts.filterLogs(map[string]any{"logs": map[string]any{
		"timestamp": map[string]any{"after_": "2026-03-01T09:30:00Z", "before_": "2026-03-01T12:00:00+01:00"}}})
	require.Equal(t, []string{"naive"}, logMessages(got))
	got = ts.filterLogs(map[string]any{"logs": map[string]any{"text": map[string]any{"query": "NUL -second"}}})
	require.Equal(t, []string{"first with NUL"}, logMessages(got))
	require.Empty(t, ts.filterLogs(map[string]any{"limit": 0}))
	require.Len(t, ts.filterLogs(map[string]any{"offset": 2}), 1)

	// An empty batch is accepted and writes nothing.
	ts.ok(ts.do("POST", "/api/logs/", `[]`), http.StatusCreated, "POST", "/logs/")
	require.Len(t, ts.filterLogs(nil), 3)
}

func TestLogCreateValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	good := map[string]any{"name": "n", "level": 20, "message": "m", "timestamp": "2026-03-01T09:00:00Z"}

	// One invalid element rejects the whole batch: nothing is written.
	ts.expect(ts.do("POST", "/api/logs/", []any{good, map[string]any{"name": "n", "message": "m", "level": "high",
		"timestamp": "2026-03-01T09:00:00Z"}}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", 1, "level"], "msg": "Input should be a valid integer", "type": "int_type", "input": "high"}],
		"request_body": [`+mustJSON(t, good)+`, {"name": "n", "message": "m", "level": "high", "timestamp": "2026-03-01T09:00:00Z"}]}`)
	require.Empty(t, ts.filterLogs(nil))

	ts.expect(ts.do("POST", "/api/logs/", `[{}, 1]`), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [
			{"loc": ["body", 0, "name"], "msg": "Field required", "type": "missing", "input": {}},
			{"loc": ["body", 0, "level"], "msg": "Field required", "type": "missing", "input": {}},
			{"loc": ["body", 0, "message"], "msg": "Field required", "type": "missing", "input": {}},
			{"loc": ["body", 0, "timestamp"], "msg": "Field required", "type": "missing", "input": {}},
			{"loc": ["body", 1], "msg": "Input should be a valid dictionary or instance of LogCreate", "type": "model_type",
			 "input": 1, "ctx": {"class_name": "LogCreate"}}],
		"request_body": [{}, 1]}`)

	bad := map[string]any{"name": "n", "level": 1, "message": "m", "timestamp": "yesterday"}
	ts.expect(ts.do("POST", "/api/logs/", []any{bad}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", 0, "timestamp"], "msg": "Value error, Unable to parse string [yesterday]",
			"type": "value_error", "input": "yesterday", "ctx": {"error": "Unable to parse string [yesterday]"}}],
		"request_body": [{"name": "n", "level": 1, "message": "m", "timestamp": "yesterday"}]}`)

	res := ts.do("POST", "/api/logs/", map[string]any{"name": "n"})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Contains(t, string(res.Body), `"list_type"`)
	res = ts.do("POST", "/api/logs/", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Contains(t, string(res.Body), `"missing"`)
	require.Empty(t, ts.filterLogs(nil))
}

func TestLogFilterValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.expect(ts.do("POST", "/api/logs/filter", map[string]any{"sort": "NAME_ASC"}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", "sort"], "msg": "Input should be 'TIMESTAMP_ASC' or 'TIMESTAMP_DESC'",
			"type": "enum", "input": "NAME_ASC", "ctx": {"expected": "'TIMESTAMP_ASC' or 'TIMESTAMP_DESC'"}}],
		"request_body": {"sort": "NAME_ASC"}}`)
	ts.expect(ts.do("POST", "/api/logs/filter", map[string]any{"limit": 201}), http.StatusUnprocessableEntity,
		`{"detail": "Invalid limit: must be less than or equal to 200."}`)
	ts.expect(ts.do("POST", "/api/logs/filter", map[string]any{"offset": -1}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", "offset"], "msg": "Input should be greater than or equal to 0",
			"type": "greater_than_equal", "input": -1, "ctx": {"ge": 0}}],
		"request_body": {"offset": -1}}`)
	long := strings.Repeat("x", 201)
	res := ts.do("POST", "/api/logs/filter", map[string]any{"logs": map[string]any{"text": map[string]any{"query": long}}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	require.Contains(t, string(res.Body), `"loc":["body","logs","text","query"]`)
	res = ts.do("POST", "/api/logs/filter", map[string]any{"logs": map[string]any{"operator": "xor_"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	ts.filterLogs(map[string]any{"logs": map[string]any{"text": map[string]any{"query": strings.Repeat("é", 200)}}})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
