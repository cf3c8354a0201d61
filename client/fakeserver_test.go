package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// csrfMode is how the fake server's /api/csrf-token behaves.
type csrfMode int

const (
	csrfOn       csrfMode = iota // Prefect with server.api.csrf_protection_enabled
	csrfOff                      // Prefect default: 422 "CSRF protection is disabled."
	csrfNotFound                 // older server without the endpoint
	csrfBroken                   // answers a 422 validation error that is not the switch-off text
)

// fakeServer implements the server side of Prefect's auth and CSRF protocol
// (CSRF middleware, then Basic auth, then routes) plus a few flow and
// variable routes, recording every request it sees.
type fakeServer struct {
	srv        *httptest.Server
	mux        *http.ServeMux
	authString string
	csrf       csrfMode
	csrfTTL    time.Duration
	clock      *testClock

	mu       sync.Mutex
	tokens   map[string]apitype.CsrfToken // by client id
	fetches  int                          // GET /csrf-token calls that reached the route
	requests []recordedRequest
	flows    map[uuid.UUID]apitype.Flow
	vars     map[string]apitype.Variable // by name
}

type recordedRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// testClock is a settable clock shared by the client (Config.Now) and the
// fake server, so token expiry can be crossed without waiting.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newFakeServer(t *testing.T, mode csrfMode, authString string) *fakeServer {
	t.Helper()
	fs := &fakeServer{
		mux:        http.NewServeMux(),
		authString: authString,
		csrf:       mode,
		csrfTTL:    time.Hour,
		clock:      newTestClock(),
		tokens:     map[string]apitype.CsrfToken{},
		flows:      map[uuid.UUID]apitype.Flow{},
		vars:       map[string]apitype.Variable{},
	}
	fs.mux.HandleFunc("GET /api/csrf-token", fs.csrfToken)
	fs.mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, "👋") })
	fs.mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, true) })
	fs.mux.HandleFunc("GET /api/ready", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]string{"message": "OK"})
	})
	fs.mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, "0.8.4") })
	fs.mux.HandleFunc("GET /api/admin/version", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, "3.9.1") })
	fs.mux.HandleFunc("GET /api/admin/settings", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"server": map[string]any{"analytics_enabled": false}})
	})
	fs.registerFlowRoutes()
	fs.registerVariableRoutes()
	fs.srv = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.srv.Close)
	return fs
}

// URL is the API URL of the fake server.
func (fs *fakeServer) URL() string { return fs.srv.URL + "/api" }

// config returns a client config for this server: Prefect defaults, the
// shared clock, no jitter, and a Sleep that fails the test if called.
func (fs *fakeServer) config(t *testing.T) Config {
	cfg := DefaultConfig(fs.URL())
	cfg.Now = fs.clock.Now
	cfg.RetryJitterFactor = 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Sleep = func(_ context.Context, d time.Duration) error {
		t.Errorf("unexpected retry sleep of %s", d)
		return nil
	}
	return cfg
}

func (fs *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	fs.mu.Lock()
	fs.requests = append(fs.requests, recordedRequest{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body,
	})
	fs.mu.Unlock()

	// Prefect's CsrfMiddleware runs before Basic auth.
	if fs.csrf == csrfOn && isMutating(r.Method) {
		token, client := r.Header.Get("Prefect-Csrf-Token"), r.Header.Get("Prefect-Csrf-Client")
		switch {
		case token == "":
			writeJSON(w, 403, map[string]string{"detail": "Missing CSRF token."})
			return
		case client == "":
			writeJSON(w, 403, map[string]string{"detail": "Missing client identifier."})
			return
		}
		fs.mu.Lock()
		stored, ok := fs.tokens[client]
		fs.mu.Unlock()
		if !ok || !stored.Expiration.After(fs.clock.Now()) ||
			subtle.ConstantTimeCompare([]byte(stored.Token), []byte(token)) != 1 {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			writeJSON(w, 403, map[string]string{"detail": "Invalid CSRF token or client identifier."})
			return
		}
	}
	exempt := r.Method == http.MethodGet && (r.URL.Path == "/api/health" || r.URL.Path == "/api/ready")
	if fs.authString != "" && !exempt {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(fs.authString))
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
			writeJSON(w, 401, map[string]string{"exception_message": "Unauthorized"})
			return
		}
	}
	fs.mux.ServeHTTP(w, r)
}

func (fs *fakeServer) csrfToken(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.fetches++
	switch fs.csrf {
	case csrfOff:
		writeJSON(w, 422, map[string]string{"detail": "CSRF protection is disabled."})
		return
	case csrfNotFound:
		writeJSON(w, 404, map[string]string{"detail": "Not Found"})
		return
	case csrfBroken:
		writeJSON(w, 422, map[string]any{"exception_message": "Invalid request received."})
		return
	}
	client := r.URL.Query().Get("client")
	if client == "" {
		writeJSON(w, 422, map[string]any{"exception_message": "Invalid request received."})
		return
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	now := fs.clock.Now()
	tok := apitype.CsrfToken{
		ID: uuid.New(), Created: now, Updated: now, Client: client,
		Token: hex.EncodeToString(raw), Expiration: now.Add(fs.csrfTTL),
	}
	fs.tokens[client] = tok // upsert: the client's previous token dies
	writeJSON(w, 200, tok)
}

// revokeTokens forgets every issued token, as a server restart with a wiped
// database or a token rotation would.
func (fs *fakeServer) revokeTokens() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.tokens = map[string]apitype.CsrfToken{}
}

func (fs *fakeServer) tokenFetches() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fetches
}

// recorded returns the requests seen so far, except token fetches.
func (fs *fakeServer) recorded() []recordedRequest {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []recordedRequest
	for _, r := range fs.requests {
		if r.Path != "/api/csrf-token" {
			out = append(out, r)
		}
	}
	return out
}

func (fs *fakeServer) lastRequest(t *testing.T) recordedRequest {
	t.Helper()
	reqs := fs.recorded()
	require.NotEmpty(t, reqs)
	return reqs[len(reqs)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// captureLogger returns a logger whose text output lands in the buffer.
func captureLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the non-empty log lines.
func (b *syncBuffer) lines() []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
