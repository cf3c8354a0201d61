package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// wsServer serves AcceptPrefectSocket; after a successful accept it sends
// "ready" so the client can tell the route's protocol started. The server
// side's error is reported on errs.
func wsServer(t *testing.T, opts AcceptOptions) (url string, errs <-chan error) {
	t.Helper()
	ch := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := AcceptPrefectSocket(w, r, opts)
		ch <- err
		if err != nil {
			return
		}
		_ = conn.Write(r.Context(), websocket.MessageText, []byte("ready"))
		conn.Close(websocket.StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ch
}

func dial(t *testing.T, url string, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols})
}

func readText(t *testing.T, c *websocket.Conn) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	return string(b), err
}

func send(t *testing.T, c *websocket.Conn, typ websocket.MessageType, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Write(ctx, typ, []byte(msg)))
}

func TestAcceptPrefectSocketNoSubprotocolUnderAuth(t *testing.T) {
	t.Parallel()
	url, errs := wsServer(t, AcceptOptions{AuthString: testAuth})
	_, res, err := dial(t, url)
	require.Error(t, err)
	require.NotNil(t, res)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.ErrorIs(t, <-errs, ErrSocketRejected)

	// Another subprotocol is not enough either.
	_, res, err = dial(t, url, "prefect-v2")
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.ErrorIs(t, <-errs, ErrSocketRejected)
}

func TestAcceptPrefectSocketRequireSubprotocol(t *testing.T) {
	t.Parallel()
	url, errs := wsServer(t, AcceptOptions{RequireSubprotocol: true})
	_, res, err := dial(t, url)
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.ErrorIs(t, <-errs, ErrSocketRejected)
}

func TestAcceptPrefectSocketHandshakeFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		typ    websocket.MessageType
		msg    string
		reason string
	}{
		{"wrong token", websocket.MessageText, `{"type":"auth","token":"admin:wrong"}`, "Invalid token"},
		{"base64 token", websocket.MessageText, `{"type":"auth","token":"` + b64(testAuth) + `"}`, "Invalid token"},
		{"numeric token", websocket.MessageText, `{"type":"auth","token":42}`, "Invalid token"},
		{"no token", websocket.MessageText, `{"type":"auth"}`, "Auth required but no token provided"},
		{"null token", websocket.MessageText, `{"type":"auth","token":null}`, "Auth required but no token provided"},
		{"empty token", websocket.MessageText, `{"type":"auth","token":""}`, "Auth required but no token provided"},
		{"wrong type", websocket.MessageText, `{"type":"filter","token":"` + testAuth + `"}`, "Expected 'auth' message"},
		{"no type", websocket.MessageText, `{"token":"` + testAuth + `"}`, "Expected 'auth' message"},
		{"array", websocket.MessageText, `[1,2]`, "Expected 'auth' message"},
		{"not json", websocket.MessageText, `hello`, "Expected 'auth' message"},
		{"binary frame", websocket.MessageBinary, `{"type":"auth","token":"` + testAuth + `"}`, "Expected 'auth' message"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url, errs := wsServer(t, AcceptOptions{AuthString: testAuth})
			conn, res, err := dial(t, url, "prefect")
			require.NoError(t, err)
			require.Equal(t, "prefect", res.Header.Get("Sec-WebSocket-Protocol"))
			defer conn.CloseNow()
			send(t, conn, c.typ, c.msg)
			_, err = readText(t, conn)
			var ce websocket.CloseError
			require.True(t, errors.As(err, &ce), "got %v", err)
			require.Equal(t, websocket.StatusPolicyViolation, ce.Code)
			require.Equal(t, c.reason, ce.Reason)
			require.ErrorIs(t, <-errs, ErrSocketRejected)
		})
	}
}

func TestAcceptPrefectSocketSuccess(t *testing.T) {
	t.Parallel()
	url, errs := wsServer(t, AcceptOptions{AuthString: testAuth})
	// Offered among others, comma-separated: still selected.
	conn, res, err := dial(t, url, "other", "prefect") // sent as one comma-separated header
	require.NoError(t, err)
	defer conn.CloseNow()
	require.Equal(t, "prefect", res.Header.Get("Sec-WebSocket-Protocol"))
	send(t, conn, websocket.MessageText, `{"type":"auth","token":"`+testAuth+`"}`)
	msg, err := readText(t, conn)
	require.NoError(t, err)
	require.Equal(t, `{"type":"auth_success"}`, msg)
	require.NoError(t, <-errs)
	msg, err = readText(t, conn)
	require.NoError(t, err)
	require.Equal(t, "ready", msg)
}

func TestAcceptPrefectSocketAuthOff(t *testing.T) {
	t.Parallel()
	url, errs := wsServer(t, AcceptOptions{})

	// Legacy mode: no subprotocol, no handshake.
	conn, res, err := dial(t, url)
	require.NoError(t, err)
	require.Empty(t, res.Header.Get("Sec-WebSocket-Protocol"))
	msg, err := readText(t, conn)
	require.NoError(t, err)
	require.Equal(t, "ready", msg)
	require.NoError(t, <-errs)
	conn.CloseNow()

	// With the subprotocol the handshake is still required; any token passes.
	conn, _, err = dial(t, url, "prefect")
	require.NoError(t, err)
	defer conn.CloseNow()
	send(t, conn, websocket.MessageText, `{"type":"auth","token":null}`)
	msg, err = readText(t, conn)
	require.NoError(t, err)
	require.Equal(t, `{"type":"auth_success"}`, msg)
	require.NoError(t, <-errs)
}

func TestAcceptPrefectSocketFailureReasonOverride(t *testing.T) {
	t.Parallel()
	url, errs := wsServer(t, AcceptOptions{AuthString: testAuth, FailureReason: "authentication_failed"})
	conn, _, err := dial(t, url, "prefect")
	require.NoError(t, err)
	defer conn.CloseNow()
	send(t, conn, websocket.MessageText, `{"type":"auth","token":"nope"}`)
	_, err = readText(t, conn)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.StatusPolicyViolation, ce.Code)
	require.Equal(t, "authentication_failed", ce.Reason)
	require.ErrorIs(t, <-errs, ErrSocketRejected)
}

func TestAcceptPrefectSocketHandshakeTimeout(t *testing.T) {
	t.Parallel()
	url, errs := wsServer(t, AcceptOptions{AuthString: testAuth, HandshakeTimeout: 50 * time.Millisecond})
	conn, _, err := dial(t, url, "prefect")
	require.NoError(t, err)
	defer conn.CloseNow()
	// The client stays silent; the server gives up on its own.
	require.ErrorIs(t, <-errs, ErrSocketRejected)
	_, err = readText(t, conn)
	require.Error(t, err)
}
