package api

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/settings"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func withAuth(s *settings.Server) { s.AuthString = testAuth }

const unauthorizedBody = `{"exception_message":"Unauthorized"}`

func TestBasicAuthRejects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	cases := map[string]string{
		"missing":            "",
		"bearer":             "Bearer " + testAuth,
		"lowercase scheme":   "basic " + b64(testAuth),
		"scheme only":        "Basic",
		"three fields":       "Basic " + b64(testAuth) + " extra",
		"garbled base64":     "Basic !!!not-base64!!!",
		"wrong secret":       basicHeader("admin:wrong"),
		"prefix of secret":   basicHeader(testAuth[:5]),
		"secret plus suffix": basicHeader(testAuth + "x"),
		"not base64 encoded": "Basic " + testAuth,
		"invalid utf-8":      "Basic " + base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0xfd}),
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			var r response
			if header == "" {
				r = ts.do("GET", "/api/version", nil)
			} else {
				r = ts.do("GET", "/api/version", nil, "Authorization", header)
			}
			ts.expect(r, http.StatusUnauthorized, unauthorizedBody)
			require.Empty(t, r.Header.Values("WWW-Authenticate"))
		})
	}
}

func TestBasicAuthAccepts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	for name, header := range map[string]string{
		"padded":       basicHeader(testAuth),
		"unpadded":     "Basic " + base64.RawStdEncoding.EncodeToString([]byte(testAuth)),
		"extra spaces": "  Basic   " + b64(testAuth) + "  ",
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.do("GET", "/api/version", nil, "Authorization", header)
			ts.expect(r, http.StatusOK, `"0.8.4"`)
		})
	}
	t.Run("utf-8 password", func(t *testing.T) {
		ts := newTestServer(t, func(s *settings.Server) { s.AuthString = "admin:pässwörd" })
		ts.expect(ts.do("GET", "/api/version", nil, "Authorization", basicHeader("admin:pässwörd")), http.StatusOK, `"0.8.4"`)
	})
}

func TestBasicAuthHealthExemptions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	ts.expect(ts.do("GET", "/api/health", nil), http.StatusOK, `true`)
	ts.expect(ts.do("GET", "/api/ready", nil), http.StatusOK, `{"message":"OK"}`)

	for _, c := range []struct{ method, path string }{
		{"HEAD", "/api/health"},
		{"POST", "/api/health"},
		{"POST", "/api/ready"},
		{"GET", "/api/flows/../health"},
		{"GET", "/api/flows/%2e%2e/health"},
		{"GET", "/api//health"},
		{"GET", "/api/health/"},
		{"GET", "/api/ready/"},
		{"GET", "/api/variables/name/system-health"},
		{"GET", "/api/health/../version"},
		{"GET", "/api/version"},
		{"GET", "/api/admin/settings"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, err := http.NewRequest(c.method, ts.srv.URL+c.path, nil)
			require.NoError(t, err)
			req.URL.Opaque = c.path // send the path verbatim, uncleaned
			res, err := ts.srv.Client().Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, http.StatusUnauthorized, res.StatusCode, "body %s", body)
			if c.method != "HEAD" {
				require.JSONEq(t, unauthorizedBody, string(body))
			}
		})
	}
}

// A Host header naming the health path must not matter: only the request
// line's path does. net/http already refuses that Host with 400; the
// handler on its own (e.g. behind a proxy that passes it) answers 401.
func TestBasicAuthIgnoresHostHeader(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	conn, err := net.Dial("tcp", ts.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /api/version HTTP/1.1\r\nHost: localhost/health?\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)

	for _, host := range []string{"localhost/health?", "localhost/api/health?", "localhost"} {
		req := httptest.NewRequest("GET", "/api/version", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		ts.handler.ServeHTTP(rec, req)
		require.Equal(t, http.StatusUnauthorized, rec.Code, host)
		require.JSONEq(t, unauthorizedBody, rec.Body.String())
	}
}

// An Upgrade header on a REST route must not skip auth: only websocket
// routes bypass it.
func TestBasicAuthUpgradeHeaderDoesNotBypass(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	r := ts.do("GET", "/api/admin/settings", nil, "Upgrade", "websocket", "Connection", "Upgrade",
		"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol", "prefect")
	ts.expect(r, http.StatusUnauthorized, unauthorizedBody)
}

// 401s pass back out through CORS and carry its headers.
func TestBasicAuthFailureHasCORSHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	r := ts.do("GET", "/api/version", nil, "Origin", "https://ui.example")
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))
}

func TestPrincipal(t *testing.T) {
	t.Parallel()
	capture := func(a *app, req *http.Request) (Principal, bool) {
		var got Principal
		var ok bool
		h := a.basicAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok = PrincipalFrom(r.Context())
		}))
		h.ServeHTTP(httptest.NewRecorder(), req)
		return got, ok
	}
	authed := &app{base: "/api", settings: settings.Server{AuthString: testAuth}}
	req := httptest.NewRequest("GET", "/api/flows/x", nil)
	req.Header.Set("Authorization", basicHeader(testAuth))
	p, ok := capture(authed, req)
	require.True(t, ok)
	require.Equal(t, Principal{Kind: PrincipalAuthString}, p)

	p, ok = capture(authed, httptest.NewRequest("GET", "/api/health", nil))
	require.True(t, ok)
	require.Equal(t, PrincipalAnonymous, p.Kind)

	open := &app{base: "/api"}
	p, ok = capture(open, httptest.NewRequest("POST", "/api/flows/", strings.NewReader("{}")))
	require.True(t, ok)
	require.Equal(t, PrincipalAnonymous, p.Kind)

	_, ok = PrincipalFrom(httptest.NewRequest("GET", "/", nil).Context())
	require.False(t, ok)
}

// Secrets never reach the log: not the Authorization header, not CSRF tokens.
func TestRequestLogOmitsSecrets(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	ts.do("GET", "/api/version", nil, "Authorization", basicHeader(testAuth))
	ts.do("GET", "/api/version", nil, "Authorization", basicHeader("admin:wrong-guess"))
	ts.do("POST", "/api/flows/filter", "{}", "Authorization", basicHeader(testAuth), "Prefect-Csrf-Token", "tok-secret-123")
	logs := ts.logBuf.String()
	require.Contains(t, logs, "path=/api/version")
	for _, secret := range []string{testAuth, b64(testAuth), "wrong-guess", b64("admin:wrong-guess"), "tok-secret-123"} {
		require.NotContains(t, logs, secret)
	}
}
