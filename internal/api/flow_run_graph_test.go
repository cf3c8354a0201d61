package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/settings"
)

func (ts *testServer) createTaskRun(body map[string]any) apitype.TaskRun {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/task_runs/", body), http.StatusCreated, "POST", "/task_runs/")
	var tr apitype.TaskRun
	require.NoError(ts.t, json.Unmarshal(raw, &tr))
	return tr
}

// graphJSON mirrors the wire shape of a graph, nodes as [id, node] pairs.
type graphJSON struct {
	StartTime   *time.Time              `json:"start_time"`
	RootNodeIDs []uuid.UUID             `json:"root_node_ids"`
	Nodes       [][2]json.RawMessage    `json:"nodes"`
	Artifacts   []apitype.GraphArtifact `json:"artifacts"`
	States      []apitype.GraphState    `json:"states"`
}

func (g graphJSON) node(t *testing.T, id uuid.UUID) *apitype.GraphNode {
	t.Helper()
	for _, pair := range g.Nodes {
		var n apitype.GraphNode
		require.NoError(t, json.Unmarshal(pair[1], &n))
		if n.ID == id {
			return &n
		}
	}
	return nil
}

func edgeIDs(es []apitype.GraphEdge) []uuid.UUID {
	out := []uuid.UUID{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestFlowRunGraph(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))
	task := func(key string, inputs map[string]any) apitype.TaskRun {
		ts.advance(time.Second)
		tr := ts.createTaskRun(map[string]any{"flow_run_id": fr.ID, "task_key": key, "name": key, "dynamic_key": "0",
			"task_inputs": inputs, "state": map[string]any{"type": "RUNNING"}})
		return tr
	}
	a := task("a", map[string]any{})
	ts.advance(time.Second)
	ts.setState("task_runs", a.ID, http.StatusCreated, stateBody("COMPLETED"))
	ref := func(id uuid.UUID) []any { return []any{map[string]any{"input_type": "task_run", "id": id}} }
	b := task("b", map[string]any{"x": ref(a.ID), "y": ref(a.ID), "k": []any{map[string]any{"input_type": "constant", "type": "int"}}})
	tracker := task("child", map[string]any{"__parents__": ref(a.ID)})
	ts.advance(time.Second)
	child := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "kid", "parent_task_run_id": tracker.ID})
	ts.advance(time.Second)
	ts.setState("flow_runs", child.ID, http.StatusCreated, stateBody("RUNNING"))

	ts.createArtifact(map[string]any{"type": "markdown", "data": "# hi", "flow_run_id": fr.ID})
	ts.createArtifact(map[string]any{"key": "prog", "type": "progress", "data": 42, "flow_run_id": fr.ID, "task_run_id": a.ID})
	ts.createArtifact(map[string]any{"type": "result", "data": "r", "flow_run_id": fr.ID, "task_run_id": a.ID})

	path := "/api/flow_runs/" + fr.ID.String() + "/graph-v2"
	var g graphJSON
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", path, nil), http.StatusOK, "GET", "/flow_runs/{id}/graph-v2"), &g))
	require.Len(t, g.Nodes, 3)
	require.Equal(t, []uuid.UUID{a.ID, child.ID}, g.RootNodeIDs, "roots in start order; encapsulated nodes are roots")
	na, nb, nc := g.node(t, a.ID), g.node(t, b.ID), g.node(t, child.ID)
	require.Equal(t, "task-run", na.Kind)
	require.Equal(t, apitype.StateTypeCompleted, na.StateType)
	require.NotNil(t, na.EndTime)
	require.Equal(t, []uuid.UUID{b.ID, b.ID}, edgeIDs(na.Children), "one edge per referencing input, as Prefect")
	require.Equal(t, []uuid.UUID{a.ID, a.ID}, edgeIDs(nb.Parents))
	require.Equal(t, "flow-run", nc.Kind)
	require.Equal(t, "etl / kid", nc.Label)
	require.Equal(t, apitype.StateTypeRunning, nc.StateType)
	require.Equal(t, []uuid.UUID{a.ID}, edgeIDs(nc.Encapsulating))
	require.Empty(t, nc.Parents)
	require.Nil(t, g.node(t, tracker.ID), "the tracking task run is the subflow's node")
	require.Len(t, na.Artifacts, 1, "the result artifact is left out")
	require.Equal(t, "prog", *na.Artifacts[0].Key)
	require.True(t, na.Artifacts[0].IsLatest)
	require.Equal(t, float64(42), na.Artifacts[0].Data)
	require.Len(t, g.Artifacts, 1)
	require.Nil(t, g.Artifacts[0].Data, "data is only sent for progress artifacts")
	require.True(t, g.Artifacts[0].IsLatest, "unkeyed artifacts are always latest")
	require.Len(t, g.States, 2)
	require.Equal(t, apitype.StateTypeRunning, g.States[1].Type)

	// since drops nodes that ended before it.
	since := na.EndTime.Add(time.Millisecond).Format(time.RFC3339Nano)
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", path+"?since="+url.QueryEscape(since), nil), http.StatusOK,
		"GET", "/flow_runs/{id}/graph-v2"), &g))
	require.Len(t, g.Nodes, 2)
	require.Nil(t, g.node(t, a.ID))

	missing := uuid.New()
	ts.expect(ts.do("GET", "/api/flow_runs/"+missing.String()+"/graph-v2", nil), http.StatusNotFound,
		fmt.Sprintf(`{"exception_message":"Flow run %s not found"}`, missing))
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("GET", path+"?since=yesterday", nil).Status)
}

func TestFlowRunGraphTooLarge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *settings.Server) { c.FlowRunGraphMaxNodes = 1 })
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	path := "/api/flow_runs/" + fr.ID.String() + "/graph-v2"
	var g graphJSON
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", path, nil), http.StatusOK, "GET", "/flow_runs/{id}/graph-v2"), &g))
	require.Empty(t, g.Nodes)
	require.Equal(t, []uuid.UUID{}, g.RootNodeIDs)
	for _, k := range []string{"a", "b"} {
		ts.createTaskRun(map[string]any{"flow_run_id": fr.ID, "task_key": k, "dynamic_key": "0", "state": map[string]any{"type": "RUNNING"}})
	}
	ts.expect(ts.do("GET", path, nil), http.StatusBadRequest,
		fmt.Sprintf(`{"detail":"The graph of flow run %s has more than 1 nodes."}`, fr.ID))
}

func TestFlowRunLogsDownload(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "nightly run/1"})
	other := ts.createFlowRun(map[string]any{"flow_id": flow.ID})
	tr := uuid.New()
	logs := []map[string]any{
		{"name": "a", "level": 40, "message": "second, with \"quotes\"\nand a line", "timestamp": "2026-03-01T12:00:01.5Z", "flow_run_id": fr.ID, "task_run_id": tr},
		{"name": "a", "level": 20, "message": " first", "timestamp": "2026-03-01T12:00:00Z", "flow_run_id": fr.ID},
		{"name": "a", "level": 20, "message": "elsewhere", "timestamp": "2026-03-01T12:00:00Z", "flow_run_id": other.ID},
	}
	require.Equal(t, http.StatusCreated, ts.do("POST", "/api/logs/", logs).Status)
	res := ts.do("GET", "/api/flow_runs/"+fr.ID.String()+"/logs/download", nil)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="flow-run-logs.csv"; filename*=UTF-8''nightly%20run%2F1-logs.csv`,
		res.Header.Get("Content-Disposition"))
	want := "timestamp,level,flow_run_id,task_run_id,message\r\n" +
		"2026-03-01 12:00:00+00:00,20," + fr.ID.String() + ",, first\r\n" +
		"2026-03-01 12:00:01.500000+00:00,40," + fr.ID.String() + "," + tr.String() + ",\"second, with \"\"quotes\"\"\nand a line\"\r\n"
	require.Equal(t, want, string(res.Body))

	empty := ts.do("GET", "/api/flow_runs/"+other.ID.String()+"/logs/download", nil)
	require.Contains(t, string(empty.Body), "elsewhere")
	ts.expect(ts.do("GET", "/api/flow_runs/"+uuid.NewString()+"/logs/download", nil), http.StatusNotFound, `{"detail":"Flow run not found"}`)
}

// logsSocket opens /logs/out with the Prefect handshake and sends filter.
func (ts *testServer) logsSocket(filter string) *websocket.Conn {
	ts.t.Helper()
	c, _, err := dial(ts.t, "ws"+strings.TrimPrefix(ts.srv.URL, "http")+"/api/logs/out", PrefectSubprotocol)
	require.NoError(ts.t, err)
	ts.t.Cleanup(func() { c.CloseNow() })
	send(ts.t, c, websocket.MessageText, `{"type":"auth","token":"`+testAuth+`"}`)
	msg, err := readText(ts.t, c)
	require.NoError(ts.t, err)
	require.JSONEq(ts.t, `{"type":"auth_success"}`, msg)
	send(ts.t, c, websocket.MessageText, filter)
	return c
}

func TestLogsOutStreamsMatchingLogs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *settings.Server) {
		c.AuthString = testAuth
		c.LogsStreamOutEnabled, c.LogsStreamPublishingEnabled = true, true
	})
	auth := []string{"Authorization", basicHeader(testAuth)}
	fr := uuid.New()
	c := ts.logsSocket(`{"type":"filter","filter":{"flow_run_id":{"any_":["` + fr.String() + `"]},"level":{"ge_":30}}}`)
	// The subscription is registered asynchronously after the filter frame;
	// publish until the first matching log arrives, then check the rest in
	// order (matching logs only).
	post := func(level int, msg string, run uuid.UUID) {
		t.Helper()
		res := ts.do("POST", "/api/logs/", []map[string]any{{"name": "n", "level": level, "message": msg,
			"timestamp": "2026-03-01T12:00:00Z", "flow_run_id": run}}, auth...)
		require.Equal(t, http.StatusCreated, res.Status)
	}
	got := make(chan apitype.Log, 16)
	go func() {
		for {
			msg, err := readText(t, c)
			if err != nil {
				close(got)
				return
			}
			var frame struct {
				Type string      `json:"type"`
				Log  apitype.Log `json:"log"`
			}
			if json.Unmarshal([]byte(msg), &frame) == nil && frame.Type == "log" {
				got <- frame.Log
			}
		}
	}()
	var first apitype.Log
	for first.Message == "" {
		post(40, "probe", fr)
		select {
		case first = <-got:
		case <-time.After(50 * time.Millisecond):
		}
	}
	require.Equal(t, "probe", first.Message)
	post(20, "too quiet", fr)
	post(50, "other run", uuid.New())
	post(50, "loud", fr)
	for l := range got {
		if l.Message == "probe" {
			continue // probes sent before the first one arrived
		}
		require.Equal(t, "loud", l.Message)
		require.Equal(t, 50, l.Level)
		require.Equal(t, fr, *l.FlowRunID)
		break
	}
}

func TestLogsOutProtocolErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *settings.Server) { c.AuthString = testAuth })
	for _, tc := range []struct{ frame, reason string }{
		{`{"type":"nope"}`, "Expected 'filter' message"},
		{`{"type":"filter","filter":{"level":"loud"}}`, "Invalid filter: "},
	} {
		c := ts.logsSocket(tc.frame)
		_, err := readText(t, c)
		var ce websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, websocket.StatusProtocolError, ce.Code)
		require.True(t, strings.HasPrefix(ce.Reason, tc.reason), ce.Reason)
	}
}
