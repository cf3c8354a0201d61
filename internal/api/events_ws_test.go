package api

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/settings"
)

func eventsAuth(c *settings.Server) { c.AuthString = testAuth }

// wsConnect opens path with the real Prefect handshake.
func (es *eventsServer) wsConnect(path string) *websocket.Conn {
	es.t.Helper()
	url := "ws" + strings.TrimPrefix(es.srv.URL, "http") + path
	c, _, err := dial(es.t, url, PrefectSubprotocol)
	require.NoError(es.t, err)
	es.t.Cleanup(func() { c.CloseNow() })
	send(es.t, c, websocket.MessageText, `{"type":"auth","token":"`+testAuth+`"}`)
	msg, err := readText(es.t, c)
	require.NoError(es.t, err)
	require.JSONEq(es.t, `{"type":"auth_success"}`, msg)
	return c
}

func sendJSON(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	send(t, c, websocket.MessageText, string(b))
}

// nextEventID reads one {"type":"event"} frame and returns the event id.
func nextEventID(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	msg, err := readText(t, c)
	require.NoError(t, err)
	var frame struct {
		Type  string         `json:"type"`
		Event map[string]any `json:"event"`
	}
	require.NoError(t, json.Unmarshal([]byte(msg), &frame))
	require.Equal(t, "event", frame.Type)
	require.NotEmpty(t, frame.Event["received"])
	return frame.Event["id"].(string)
}

func TestEventsWebsocketInOut(t *testing.T) {
	es := newEventsServer(t, eventsAuth, events.Options{})
	// Stored before the subscriber arrives (and not yet flushed: the
	// subscription flushes before it backfills, so none is missed).
	old := []map[string]any{clientEvent("prefect.flow-run.A", "f1", 30), clientEvent("prefect.flow-run.B", "f2", 20)}
	require.Equal(t, 204, es.do("POST", "/api/events", old, "Authorization", basicHeader(testAuth)).Status)
	require.Equal(t, 204, es.do("POST", "/api/events", []any{clientEvent("other.X", "o", 25)}, "Authorization", basicHeader(testAuth)).Status)

	out := es.wsConnect("/api/events/out")
	sendJSON(t, out, map[string]any{"type": "filter", "filter": map[string]any{
		"event": map[string]any{"prefix": []string{"prefect.flow-run."}}}})
	require.Equal(t, old[0]["id"], nextEventID(t, out))
	require.Equal(t, old[1]["id"], nextEventID(t, out))

	in := es.wsConnect("/api/events/in")
	live := clientEvent("prefect.flow-run.C", "f3", 0)
	sendJSON(t, in, old[1])                  // a resend of a backfilled event: not sent twice
	send(t, in, websocket.MessageText, "{!") // garbage is skipped, the socket stays up
	sendJSON(t, in, clientEvent("other.Y", "o", 0))
	sendJSON(t, in, live)
	sendJSON(t, in, live) // the client resends after a reconnect: stored once
	require.Equal(t, live["id"], nextEventID(t, out))
	require.Equal(t, live["id"], nextEventID(t, out), "the live stream is at-least-once")
	sentinel := clientEvent("prefect.flow-run.D", "f4", 0)
	sendJSON(t, in, sentinel)
	require.Equal(t, sentinel["id"], nextEventID(t, out), "no other event in between")

	es.flush()
	page := pageOf(t, es.do("POST", "/api/events/filter", nil, "Authorization", basicHeader(testAuth)).Body)
	require.EqualValues(t, 6, page.Total)
	require.Contains(t, es.logBuf.String(), "invalid event skipped")
}

func TestEventsOutProtocolErrors(t *testing.T) {
	es := newEventsServer(t, eventsAuth, events.Options{})
	for msg, reason := range map[string]string{
		`{"type":"subscribe"}`:                                  "Expected 'filter' message",
		`{"type":"filter","filter":{"order":"SIDEWAYS"}}`:       "Invalid filter",
		`{"type":"filter","filter":{"id":{"id":["not-uuid"]}}}`: "Invalid filter",
	} {
		c := es.wsConnect("/api/events/out")
		send(t, c, websocket.MessageText, msg)
		_, err := readText(t, c)
		var ce websocket.CloseError
		require.True(t, errors.As(err, &ce), "%s: %v", msg, err)
		require.Equal(t, websocket.StatusProtocolError, ce.Code)
		require.Contains(t, ce.Reason, reason)
	}

	// A wrong token is refused with 1008 before anything else.
	url := "ws" + strings.TrimPrefix(es.srv.URL, "http") + "/api/events/in"
	c, _, err := dial(t, url, PrefectSubprotocol)
	require.NoError(t, err)
	send(t, c, websocket.MessageText, `{"type":"auth","token":"wrong"}`)
	_, err = readText(t, c)
	require.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
}

func TestEventsOutSlowSubscriberIsClosed(t *testing.T) {
	es := newEventsServer(t, eventsAuth, events.Options{Stream: events.StreamOptions{Buffer: 1}})
	out := es.wsConnect("/api/events/out")
	sendJSON(t, out, map[string]any{"type": "filter", "filter": map[string]any{}, "backfill": false})
	require.Eventually(t, func() bool {
		return es.events.Bus().(*events.MemoryBus).Subscribers() == 2 // persister + this stream
	}, 5*time.Second, time.Millisecond)
	// One Publish delivers the whole batch in a tight loop, far faster than
	// the handler can encode and write frames: the one-event buffer overflows.
	burst := make([]map[string]any, 0, 500)
	for range cap(burst) {
		burst = append(burst, clientEvent("e", "r", 0))
	}
	require.Equal(t, 204, es.do("POST", "/api/events", burst, "Authorization", basicHeader(testAuth)).Status)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := out.Read(ctx)
		if err != nil {
			require.Equal(t, websocket.StatusTryAgainLater, websocket.CloseStatus(err), "%v", err)
			return
		}
	}
}
