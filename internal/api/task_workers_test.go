package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/settings"
)

func taskWorkerAuth(c *settings.Server) { c.AuthString = testAuth }

// delayTask creates a deferred SCHEDULED task run as task.delay() does.
func (ts *testServer) delayTask(key string) uuid.UUID {
	ts.t.Helper()
	body := map[string]any{
		"name": "delayed", "task_key": key, "dynamic_key": uuid.NewString(),
		"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"deferred": true}},
	}
	res := ts.do("POST", "/api/task_runs/", body, "Authorization", basicHeader(testAuth))
	require.Equal(ts.t, http.StatusCreated, res.Status, "body: %s", res.Body)
	var tr apitype.TaskRun
	require.NoError(ts.t, json.Unmarshal(res.Body, &tr))
	return tr.ID
}

// subscribeTasks opens the scheduled-task socket of the server at url with
// the real handshake and subscribes to keys as clientID.
func subscribeTasks(t *testing.T, url, clientID string, keys ...string) *websocket.Conn {
	t.Helper()
	c, _, err := dial(t, "ws"+strings.TrimPrefix(url, "http")+"/api/task_runs/subscriptions/scheduled", PrefectSubprotocol)
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	send(t, c, websocket.MessageText, `{"type":"auth","token":"`+testAuth+`"}`)
	msg, err := readText(t, c)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, msg)
	sendJSON(t, c, map[string]any{"type": "subscribe", "keys": keys, "client_id": clientID})
	return c
}

// receiveRun reads one delivered task run, checks it against Prefect's
// TaskRun schema and returns its id (not acknowledged yet).
func receiveRun(t *testing.T, c *websocket.Conn) uuid.UUID {
	t.Helper()
	msg, err := readText(t, c)
	require.NoError(t, err)
	openAPI.once.Do(loadOpenAPI)
	require.NoError(t, openAPI.err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(msg)))
	require.NoError(t, err)
	require.NoError(t, compileSchema(t, "#/components/schemas/TaskRun").Validate(inst), "task run: %s", msg)
	var tr apitype.TaskRun
	require.NoError(t, json.Unmarshal([]byte(msg), &tr))
	require.Equal(t, apitype.StateTypeScheduled, tr.State.Type)
	require.True(t, tr.State.StateDetails.Deferred)
	return tr.ID
}

func ack(t *testing.T, c *websocket.Conn) { sendJSON(t, c, map[string]any{"type": "ack"}) }

// requireClosed reads until the server's close frame and checks its code and
// reason.
func requireClosed(t *testing.T, c *websocket.Conn, code websocket.StatusCode, reason string) {
	t.Helper()
	_, err := readText(t, c)
	var ce websocket.CloseError
	require.True(t, errors.As(err, &ce), "want a close frame, got %v", err)
	require.Equal(t, code, ce.Code)
	require.Equal(t, reason, ce.Reason)
}

func (ts *testServer) taskWorkers(filter any) []apitype.TaskWorker {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/task_workers/filter", filter, "Authorization", basicHeader(testAuth)),
		http.StatusOK, "POST", "/task_workers/filter")
	var out []apitype.TaskWorker
	require.NoError(ts.t, json.Unmarshal(raw, &out))
	return out
}

func TestScheduledTaskSubscriptionDeliversStoredAndLiveRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, taskWorkerAuth)
	stored := ts.delayTask("k1")
	ts.delayTask("unrelated")

	c := subscribeTasks(t, ts.srv.URL, "worker-1", "k1", "k2")
	require.Equal(t, stored, receiveRun(t, c))
	ack(t, c)
	live := ts.delayTask("k2")
	require.Equal(t, live, receiveRun(t, c))
	ack(t, c)

	workers := ts.taskWorkers(nil)
	require.Len(t, workers, 1)
	require.Equal(t, "worker-1", workers[0].Identifier)
	require.Equal(t, []string{"k1", "k2"}, workers[0].TaskKeys)
	require.Equal(t, ts.clock(), workers[0].Timestamp)
	require.Len(t, ts.taskWorkers(map[string]any{"task_worker_filter": map[string]any{"task_keys": []string{"k2", "x"}}}), 1)
	require.Empty(t, ts.taskWorkers(map[string]any{"task_worker_filter": map[string]any{"task_keys": []string{"x"}}}))

	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool { return len(ts.taskWorkers(nil)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"a disconnected worker is forgotten")
}

func TestScheduledTaskSubscriptionTwoWorkersShareRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, taskWorkerAuth)
	runs := map[uuid.UUID]bool{ts.delayTask("k"): true, ts.delayTask("k"): true, ts.delayTask("k"): true}
	a := subscribeTasks(t, ts.srv.URL, "a", "k")
	b := subscribeTasks(t, ts.srv.URL, "b", "k")
	// Each holds one unacknowledged run: they must differ.
	fromA, fromB := receiveRun(t, a), receiveRun(t, b)
	require.NotEqual(t, fromA, fromB)
	ack(t, a)
	ack(t, b)
	// The third goes to whichever asks first; then a sentinel proves no
	// run was sent twice (the queue is first in, first out).
	got := map[uuid.UUID]bool{fromA: true, fromB: true}
	third := make(chan uuid.UUID, 2)
	for _, c := range []*websocket.Conn{a, b} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			var tr apitype.TaskRun
			if json.Unmarshal(msg, &tr) == nil {
				third <- tr.ID
			}
		}()
	}
	id := <-third
	got[id] = true
	require.Equal(t, runs, got)
	sentinel := ts.delayTask("k")
	require.Equal(t, sentinel, <-third, "the other worker's next run is the sentinel")
}

func TestScheduledTaskSubscriptionRedeliversUnacknowledgedRun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, taskWorkerAuth)
	id := ts.delayTask("k")
	a := subscribeTasks(t, ts.srv.URL, "a", "k")
	require.Equal(t, id, receiveRun(t, a))
	a.CloseNow() // dropped before the ack
	b := subscribeTasks(t, ts.srv.URL, "b", "k")
	require.Equal(t, id, receiveRun(t, b))
	ack(t, b)

	// A reply that is not an ack is a protocol violation; the run goes to
	// the next worker.
	second := ts.delayTask("k")
	require.Equal(t, second, receiveRun(t, b))
	sendJSON(t, b, map[string]any{"type": "nack"})
	requireClosed(t, b, 4001, "Protocol violation: expected 'ack' message")
	c := subscribeTasks(t, ts.srv.URL, "c", "k")
	require.Equal(t, second, receiveRun(t, c))
	sendJSON(t, c, map[string]any{"type": "quit"})
	requireClosed(t, c, websocket.StatusNormalClosure, "")
	d := subscribeTasks(t, ts.srv.URL, "d", "k")
	require.Equal(t, second, receiveRun(t, d), "a run declined with quit is kept")
}

func TestScheduledTaskSubscriptionSkipsStartedRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, taskWorkerAuth)
	started := ts.delayTask("k")
	ts.advance(time.Second) // states of one run need distinct timestamps
	res := ts.do("POST", "/api/task_runs/"+started.String()+"/set_state",
		map[string]any{"state": map[string]any{"type": "RUNNING"}, "force": true}, "Authorization", basicHeader(testAuth))
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	deleted := ts.delayTask("k")
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/task_runs/"+deleted.String(), nil, "Authorization", basicHeader(testAuth)).Status)
	want := ts.delayTask("k")
	c := subscribeTasks(t, ts.srv.URL, "w", "k")
	require.Equal(t, want, receiveRun(t, c))
}

// A restart loses the in-memory queue; the first subscription reloads the
// deferred runs still SCHEDULED in the database.
func TestScheduledTaskSubscriptionBackfillsAfterRestart(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, taskWorkerAuth)
	first, second := ts.delayTask("k"), ts.delayTask("k")
	h, err := NewHandler(Deps{Settings: ts.cfg, Store: ts.store, Logger: slog.New(slog.DiscardHandler), Now: ts.clock})
	require.NoError(t, err)
	restarted := httptest.NewServer(h)
	t.Cleanup(restarted.Close)
	c := subscribeTasks(t, restarted.URL, "w", "k")
	require.Equal(t, first, receiveRun(t, c))
	ack(t, c)
	require.Equal(t, second, receiveRun(t, c))
}

func TestScheduledTaskSubscriptionProtocolViolations(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, taskWorkerAuth)
	for _, tc := range []struct {
		msg    string
		reason string
	}{
		{`{"type":"hello","keys":["k"],"client_id":"c"}`, "Protocol violation: expected 'subscribe' message"},
		{`not json`, "Protocol violation: expected 'subscribe' message"},
		{`{"type":"subscribe","client_id":"c"}`, "Protocol violation: expected 'keys' in subscribe message"},
		{`{"type":"subscribe","keys":[],"client_id":"c"}`, "Protocol violation: expected 'keys' in subscribe message"},
		{`{"type":"subscribe","keys":["k"]}`, "Protocol violation: expected 'client_id' in subscribe message"},
		{`{"type":"subscribe","keys":["k"],"client_id":""}`, "Protocol violation: expected 'client_id' in subscribe message"},
	} {
		c, _, err := dial(t, "ws"+strings.TrimPrefix(ts.srv.URL, "http")+"/api/task_runs/subscriptions/scheduled", PrefectSubprotocol)
		require.NoError(t, err)
		send(t, c, websocket.MessageText, `{"type":"auth","token":"`+testAuth+`"}`)
		_, err = readText(t, c)
		require.NoError(t, err)
		send(t, c, websocket.MessageText, tc.msg)
		requireClosed(t, c, 4001, tc.reason)
	}
	// Without the prefect subprotocol under auth, the upgrade is refused.
	_, res, err := dial(t, "ws"+strings.TrimPrefix(ts.srv.URL, "http")+"/api/task_runs/subscriptions/scheduled")
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	c, _, err := dial(t, "ws"+strings.TrimPrefix(ts.srv.URL, "http")+"/api/task_runs/subscriptions/scheduled", PrefectSubprotocol)
	require.NoError(t, err)
	send(t, c, websocket.MessageText, `{"type":"auth","token":"wrong"}`)
	requireClosed(t, c, websocket.StatusPolicyViolation, "Invalid token")
	require.Empty(t, ts.taskWorkers(nil))
}

func TestTaskWorkersFilterValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.ok(ts.do("POST", "/api/task_workers/filter", nil), http.StatusOK, "POST", "/task_workers/filter")
	ts.ok(ts.do("POST", "/api/task_workers/filter", map[string]any{"task_worker_filter": nil}), http.StatusOK, "POST", "/task_workers/filter")
	ts.expect(ts.do("POST", "/api/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{}}), 422,
		`{"exception_message":"Invalid request received.","exception_detail":[{"type":"missing","loc":["body","task_worker_filter","task_keys"],"msg":"Field required","input":{}}],"request_body":{"task_worker_filter":{}}}`)
	res := ts.do("POST", "/api/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{"task_keys": "k"}})
	require.Equal(t, 422, res.Status, "body: %s", res.Body)
	require.Contains(t, string(res.Body), `"loc":["body","task_worker_filter","task_keys"]`)
}
