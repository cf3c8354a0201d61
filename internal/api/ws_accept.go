package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// PrefectSubprotocol is the websocket subprotocol of Prefect's in-band auth.
const PrefectSubprotocol = "prefect"

// defaultHandshakeTimeout bounds the wait for the client's auth frame.
const defaultHandshakeTimeout = 10 * time.Second

// ErrSocketRejected means AcceptPrefectSocket refused the connection; the
// response (HTTP 403 or a 1008 close) has already been sent.
var ErrSocketRejected = errors.New("websocket rejected")

// Close reasons, exactly as Prefect sends them.
const (
	reasonExpectedAuth = "Expected 'auth' message"
	reasonNoToken      = "Auth required but no token provided"
	reasonInvalidToken = "Invalid token"
)

// AcceptOptions configures AcceptPrefectSocket.
type AcceptOptions struct {
	// AuthString is server.api.auth_string; "" means auth is off.
	AuthString string
	// RequireSubprotocol rejects clients without the "prefect" subprotocol
	// even when auth is off (the worker channel does this).
	RequireSubprotocol bool
	// FailureReason, when set, replaces every close reason (the worker
	// channel reports only "authentication_failed").
	FailureReason string
	// HandshakeTimeout bounds the wait for the auth frame; 0 means 10 s.
	HandshakeTimeout time.Duration
	// OriginPatterns are extra allowed Origin hosts (coder/websocket syntax).
	// Requests without Origin (every Prefect client) are always allowed;
	// browsers from other origins are refused.
	OriginPatterns []string
	Logger         *slog.Logger
}

// AcceptPrefectSocket upgrades r the way Prefect's accept_prefect_socket does:
//
//   - no "prefect" subprotocol and auth on (or RequireSubprotocol): the
//     upgrade is refused with HTTP 403;
//   - no "prefect" subprotocol and auth off: legacy mode, accepted without a
//     handshake;
//   - "prefect" offered: accepted selecting it; the first frame must be the
//     JSON text {"type":"auth","token":...}. Wrong type → close 1008
//     "Expected 'auth' message"; with auth on, a missing token → 1008 "Auth
//     required but no token provided" and a wrong one (constant-time compare
//     of the raw string) → 1008 "Invalid token". Success sends exactly
//     {"type":"auth_success"}.
//
// On rejection it returns ErrSocketRejected (wrapped); the caller just returns.
func AcceptPrefectSocket(w http.ResponseWriter, r *http.Request, opts AcceptOptions) (*websocket.Conn, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !offersPrefect(r) {
		if opts.AuthString != "" || opts.RequireSubprotocol {
			logger.Warn("websocket rejected: 'prefect' subprotocol required", slog.String("path", r.URL.Path))
			http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
			return nil, fmt.Errorf("%w: no prefect subprotocol", ErrSocketRejected)
		}
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: opts.OriginPatterns})
		if err != nil {
			return nil, fmt.Errorf("accept websocket: %w", err)
		}
		return conn, nil
	}

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{PrefectSubprotocol},
		OriginPatterns: opts.OriginPatterns,
	})
	if err != nil {
		return nil, fmt.Errorf("accept websocket: %w", err)
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	reject := func(reason string) (*websocket.Conn, error) {
		if opts.FailureReason != "" {
			reason = opts.FailureReason
		}
		logger.Warn("websocket auth failed", slog.String("path", r.URL.Path), slog.String("reason", reason))
		_ = conn.Close(websocket.StatusPolicyViolation, reason)
		return nil, fmt.Errorf("%w: %s", ErrSocketRejected, reason)
	}

	typ, data, err := conn.Read(ctx)
	if err != nil {
		// Timeout or the peer went away: coder/websocket already closed it.
		return nil, fmt.Errorf("%w: read auth message: %w", ErrSocketRejected, err)
	}
	var msg map[string]json.RawMessage
	if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil || msg == nil {
		return reject(reasonExpectedAuth)
	}
	var kind string
	if json.Unmarshal(msg["type"], &kind) != nil || kind != "auth" {
		return reject(reasonExpectedAuth)
	}
	if opts.AuthString != "" {
		raw, has := msg["token"]
		if !has || !present(raw) {
			return reject(reasonNoToken)
		}
		var token string
		if json.Unmarshal(raw, &token) != nil {
			return reject(reasonInvalidToken)
		}
		if token == "" {
			return reject(reasonNoToken)
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(opts.AuthString)) != 1 {
			return reject(reasonInvalidToken)
		}
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"auth_success"}`)); err != nil {
		return nil, fmt.Errorf("send auth_success: %w", err)
	}
	return conn, nil
}

// offersPrefect parses Sec-WebSocket-Protocol (repeated or comma-separated,
// trimmed) for the exact token "prefect".
func offersPrefect(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == PrefectSubprotocol {
				return true
			}
		}
	}
	return false
}
