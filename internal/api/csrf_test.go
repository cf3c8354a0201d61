package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/settings"
)

func withCSRF(s *settings.Server) { s.CSRFEnabled = true }

const missingClientBody = `{"exception_message":"Invalid request received.",
	"exception_detail":[{"loc":["query","client"],"msg":"Field required","type":"missing"}],
	"request_body":null}`

func TestCSRFTokenEndpointDisabled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.expect(ts.do("GET", "/api/csrf-token?client=abc", nil), http.StatusUnprocessableEntity,
		`{"detail":"CSRF protection is disabled."}`)
	ts.expect(ts.do("GET", "/api/csrf-token", nil), http.StatusUnprocessableEntity, missingClientBody)
	// With protection off, writes need no token.
	ts.ok(ts.do("POST", "/api/flows/", map[string]any{"name": "f"}), http.StatusCreated, "POST", "/flows/")
}

func (ts *testServer) csrfToken(client string) apitype.CsrfToken {
	ts.t.Helper()
	body := ts.ok(ts.do("GET", "/api/csrf-token?client="+client, nil), http.StatusOK, "GET", "/csrf-token")
	var tok apitype.CsrfToken
	require.NoError(ts.t, json.Unmarshal(body, &tok))
	return tok
}

func TestCSRFProtection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withCSRF)
	ts.expect(ts.do("GET", "/api/csrf-token", nil), http.StatusUnprocessableEntity, missingClientBody)

	tokA := ts.csrfToken("client-a")
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), tokA.Token)
	require.Equal(t, "client-a", tokA.Client)
	require.True(t, tokA.Expiration.Equal(ts.clock().Add(time.Hour)), "expiration %s", tokA.Expiration)
	tokB := ts.csrfToken("client-b")
	require.NotEqual(t, tokA.Token, tokB.Token)

	flow := map[string]any{"name": "csrf-flow"}
	const invalid = `{"detail":"Invalid CSRF token or client identifier."}`

	ts.expect(ts.do("POST", "/api/flows/", flow), http.StatusForbidden, `{"detail":"Missing CSRF token."}`)
	ts.expect(ts.do("POST", "/api/flows/", flow, "Prefect-Csrf-Token", tokA.Token),
		http.StatusForbidden, `{"detail":"Missing client identifier."}`)

	r := ts.do("POST", "/api/flows/", flow, "Prefect-Csrf-Token", tokA.Token, "Prefect-Csrf-Client", "client-b")
	ts.expect(r, http.StatusForbidden, invalid)
	require.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))

	ts.expect(ts.do("POST", "/api/flows/", flow, "Prefect-Csrf-Token", tokA.Token, "Prefect-Csrf-Client", "unknown"),
		http.StatusForbidden, invalid)
	ts.expect(ts.do("POST", "/api/flows/", flow, "Prefect-Csrf-Token", "", "Prefect-Csrf-Client", "client-a"),
		http.StatusForbidden, invalid)

	// Every mutating method on every path, even read-only POSTs and root paths.
	for _, c := range []struct{ method, path string }{
		{"PUT", "/api/admin/storage"}, {"PATCH", "/api/flows/00000000-0000-0000-0000-000000000000"},
		{"DELETE", "/api/admin/storage"}, {"POST", "/api/flows/filter"}, {"POST", "/ui-settings"},
		{"POST", "/not-a-route"},
	} {
		ts.expect(ts.do(c.method, c.path, "{}"), http.StatusForbidden, `{"detail":"Missing CSRF token."}`)
	}
	// Reads are never checked.
	ts.ok(ts.do("GET", "/api/hello", nil), http.StatusOK, "GET", "/hello")

	ts.ok(ts.do("POST", "/api/flows/", flow, "Prefect-Csrf-Token", tokA.Token, "Prefect-Csrf-Client", "client-a"),
		http.StatusCreated, "POST", "/flows/")

	// A new token for the same client kills the previous one.
	tokA2 := ts.csrfToken("client-a")
	ts.expect(ts.do("POST", "/api/flows/filter", "{}", "Prefect-Csrf-Token", tokA.Token, "Prefect-Csrf-Client", "client-a"),
		http.StatusForbidden, invalid)
	ts.ok(ts.do("POST", "/api/flows/filter", "{}", "Prefect-Csrf-Token", tokA2.Token, "Prefect-Csrf-Client", "client-a"),
		http.StatusOK, "POST", "/flows/filter")

	// Expired tokens are refused.
	ts.advance(time.Hour + time.Second)
	ts.expect(ts.do("POST", "/api/flows/filter", "{}", "Prefect-Csrf-Token", tokA2.Token, "Prefect-Csrf-Client", "client-a"),
		http.StatusForbidden, invalid)
}

// CSRF runs before Basic auth: an unauthenticated write without a token is
// a 403, and a valid token still needs credentials.
func TestCSRFBeforeAuth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) { withCSRF(s); withAuth(s) })
	ts.expect(ts.do("POST", "/api/flows/", map[string]any{"name": "f"}), http.StatusForbidden, `{"detail":"Missing CSRF token."}`)

	// The token endpoint itself is behind auth.
	ts.expect(ts.do("GET", "/api/csrf-token?client=c", nil), http.StatusUnauthorized, unauthorizedBody)
	body := ts.ok(ts.do("GET", "/api/csrf-token?client=c", nil, "Authorization", basicHeader(testAuth)),
		http.StatusOK, "GET", "/csrf-token")
	var tok apitype.CsrfToken
	require.NoError(t, json.Unmarshal(body, &tok))

	ts.expect(ts.do("POST", "/api/flows/", map[string]any{"name": "f"}, "Prefect-Csrf-Token", tok.Token, "Prefect-Csrf-Client", "c"),
		http.StatusUnauthorized, unauthorizedBody)
	ts.ok(ts.do("POST", "/api/flows/", map[string]any{"name": "f"}, "Prefect-Csrf-Token", tok.Token, "Prefect-Csrf-Client", "c",
		"Authorization", basicHeader(testAuth)), http.StatusCreated, "POST", "/flows/")
}
