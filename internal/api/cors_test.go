package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/settings"
)

func preflight(ts *testServer, path, origin, method, headers string) response {
	h := []string{"Origin", origin, "Access-Control-Request-Method", method}
	if headers != "" {
		h = append(h, "Access-Control-Request-Headers", headers)
	}
	return ts.do("OPTIONS", path, nil, h...)
}

func TestCORSDefaultsWildcard(t *testing.T) {
	t.Parallel()
	// Auth on: preflights are answered before it.
	ts := newTestServer(t, withAuth)
	r := preflight(ts, "/api/flows/filter", "https://anywhere.example", "POST", "Authorization, Content-Type, X-Custom")
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "OK", string(r.Body))
	require.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT", r.Header.Get("Access-Control-Allow-Methods"))
	require.Equal(t, "600", r.Header.Get("Access-Control-Max-Age"))
	require.Equal(t, "Authorization, Content-Type, X-Custom", r.Header.Get("Access-Control-Allow-Headers"))
	require.Empty(t, r.Header.Get("Vary"))

	// Simple requests get the wildcard; with a cookie the origin is echoed.
	r = ts.do("GET", "/api/health", nil, "Origin", "https://anywhere.example")
	require.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))
	r = ts.do("GET", "/api/health", nil, "Origin", "https://anywhere.example", "Cookie", "a=b")
	require.Equal(t, "https://anywhere.example", r.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "Origin", r.Header.Get("Vary"))

	// No Origin, no CORS headers.
	r = ts.do("GET", "/api/health", nil)
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
}

func TestCORSRestricted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) {
		s.CORSAllowedOrigins = []string{"https://ui.example", "https://other.example"}
		s.CORSAllowedMethods = []string{"GET", "POST"}
		s.CORSAllowedHeaders = []string{"Authorization", "Prefect-Csrf-Token"}
	})
	const allowedHeaders = "Accept, Accept-Language, Authorization, Content-Language, Content-Type, Prefect-Csrf-Token"

	r := preflight(ts, "/api/flows/", "https://ui.example", "POST", "authorization, content-type")
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "OK", string(r.Body))
	require.Equal(t, "https://ui.example", r.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "Origin", r.Header.Get("Vary"))
	require.Equal(t, "GET, POST", r.Header.Get("Access-Control-Allow-Methods"))
	require.Equal(t, allowedHeaders, r.Header.Get("Access-Control-Allow-Headers"))
	require.Equal(t, "600", r.Header.Get("Access-Control-Max-Age"))

	for _, c := range []struct {
		name, origin, method, headers, want string
	}{
		{"origin", "https://evil.example", "POST", "", "Disallowed CORS origin"},
		{"method", "https://ui.example", "DELETE", "", "Disallowed CORS method"},
		{"headers", "https://ui.example", "POST", "X-Other", "Disallowed CORS headers"},
		{"all", "https://evil.example", "PUT", "X-Other", "Disallowed CORS origin, method, headers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := preflight(ts, "/api/flows/", c.origin, c.method, c.headers)
			require.Equal(t, http.StatusBadRequest, r.Status)
			require.Equal(t, c.want, string(r.Body))
			if c.origin == "https://evil.example" {
				require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}

	r = ts.do("GET", "/api/health", nil, "Origin", "https://other.example")
	require.Equal(t, "https://other.example", r.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "Origin", r.Header.Get("Vary"))
	r = ts.do("GET", "/api/health", nil, "Origin", "https://evil.example")
	require.Equal(t, http.StatusOK, r.Status)
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
}
