package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage"
)

func TestRootEndpoints(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	require.Equal(t, "true", string(ts.ok(ts.do("GET", "/api/health", nil), http.StatusOK, "GET", "/health")))
	ts.expect(ts.do("GET", "/api/ready", nil), http.StatusOK, `{"message":"OK"}`)
	require.Equal(t, `"👋"`, string(ts.ok(ts.do("GET", "/api/hello", nil), http.StatusOK, "GET", "/hello")))
	require.Equal(t, `"0.8.4"`, string(ts.ok(ts.do("GET", "/api/version", nil), http.StatusOK, "GET", "/version")))
	require.Equal(t, `"3.9.1"`, string(ts.ok(ts.do("GET", "/api/admin/version", nil), http.StatusOK, "GET", "/admin/version")))
	body := ts.ok(ts.do("GET", "/api/admin/settings", nil), http.StatusOK, "GET", "/admin/settings")
	require.JSONEq(t, `{"server":{"analytics_enabled":false,"api":{"auth_string":"**********"}}}`, string(body))
}

func TestAdminStorage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	body := ts.ok(ts.do("GET", "/api/admin/storage", nil), http.StatusOK, "GET", "/admin/storage")
	require.JSONEq(t, `{"default_result_storage_block_id":null}`, string(body))

	id := uuid.New()
	ts.expect(ts.do("PUT", "/api/admin/storage", map[string]any{"default_result_storage_block_id": id}), http.StatusNotFound,
		`{"detail":"Block document `+id.String()+` not found."}`)
	r := ts.do("PUT", "/api/admin/storage", map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), `"loc":["body","default_result_storage_block_id"]`)

	// A value stored under Prefect's key is served; DELETE clears it.
	require.NoError(t, ts.store.ConfigurationSet(context.Background(), defaultResultStorageKey,
		json.RawMessage(`{"default_result_storage_block_id":"`+id.String()+`"}`), ts.clock()))
	body = ts.ok(ts.do("GET", "/api/admin/storage", nil), http.StatusOK, "GET", "/admin/storage")
	require.JSONEq(t, `{"default_result_storage_block_id":"`+id.String()+`"}`, string(body))
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/admin/storage", nil).Status)
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/admin/storage", nil).Status, "idempotent")
	body = ts.ok(ts.do("GET", "/api/admin/storage", nil), http.StatusOK, "GET", "/admin/storage")
	require.JSONEq(t, `{"default_result_storage_block_id":null}`, string(body))
}

func TestUISettings(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	want := `{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":null,"flags":[],
		"default_ui":"v2","available_uis":[],"v1_base_url":null,"v2_base_url":null}`
	ts.expect(ts.do("GET", "/ui-settings", nil), http.StatusOK, want)
	ts.expect(ts.do("GET", "/api/ui-settings", nil), http.StatusNotFound, `{"detail":"Not Found"}`)

	// Auth on: still public, and reports BASIC; serve_base adds a second path.
	ts = newTestServer(t, func(s *settings.Server) {
		withAuth(s)
		s.CSRFEnabled = true
		s.UIServeBase = "/prefect"
		s.UIAPIURL = "https://proxy.example/api"
	})
	want = `{"api_url":"https://proxy.example/api","csrf_enabled":true,"auth":"BASIC","flags":[],
		"default_ui":"v2","available_uis":[],"v1_base_url":null,"v2_base_url":null}`
	ts.expect(ts.do("GET", "/ui-settings", nil), http.StatusOK, want)
	ts.expect(ts.do("GET", "/prefect/ui-settings", nil), http.StatusOK, want)
}

func TestBasePathRelocation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) { s.BasePath = "/v2/api"; withAuth(s) })
	ts.expect(ts.do("GET", "/v2/api/health", nil), http.StatusOK, `true`)
	ts.expect(ts.do("GET", "/v2/api/ready", nil), http.StatusOK, `{"message":"OK"}`)
	ts.expect(ts.do("GET", "/v2/api/version", nil), http.StatusUnauthorized, unauthorizedBody)
	ts.expect(ts.do("GET", "/v2/api/version", nil, "Authorization", basicHeader(testAuth)), http.StatusOK, `"0.8.4"`)
	ts.ok(ts.do("POST", "/v2/api/flows/", map[string]any{"name": "moved"}, "Authorization", basicHeader(testAuth)),
		http.StatusCreated, "POST", "/flows/")
	// The old mount is gone, and its health path is not an exemption.
	ts.expect(ts.do("GET", "/api/health", nil), http.StatusNotFound, `{"detail":"Not Found"}`)
	ts.expect(ts.do("GET", "/api/version", nil), http.StatusNotFound, `{"detail":"Not Found"}`)
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.expect(ts.do("GET", "/api/nope", nil), http.StatusNotFound, `{"detail":"Not Found"}`)
	ts.expect(ts.do("GET", "/api", nil), http.StatusNotFound, `{"detail":"Not Found"}`)
	ts.expect(ts.do("GET", "/elsewhere", nil), http.StatusNotFound, `{"detail":"Not Found"}`)
	r := ts.do("DELETE", "/api/hello", nil)
	ts.expect(r, http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`)
	require.Contains(t, r.Header.Get("Allow"), "GET")
	ts.expect(ts.do("PUT", "/api/flows/filter", "{}"), http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`)
	ts.expect(ts.do("POST", "/ui-settings", "{}"), http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAuth)
	for _, p := range []string{"/api/health", "/api/version", "/ui-settings", "/nowhere"} {
		r := ts.do("GET", p, nil)
		require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), p)
		require.Equal(t, "9.9.9-test", r.Header.Get("X-Warden-Version"), p)
	}
}

func TestAPIVersionHeader(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for _, v := range []string{"0.8.4", "0.8.0", "1.0.0", ""} {
		ts.expect(ts.do("GET", "/api/hello", nil, "X-Prefect-Api-Version", v), http.StatusOK, `"👋"`)
	}
	for _, v := range []string{"abc", "0.8", "0.8.x", "1.2.3.4"} {
		ts.expect(ts.do("GET", "/api/hello", nil, "X-PREFECT-API-VERSION", v), http.StatusBadRequest,
			`{"detail":"Invalid X-PREFECT-API-VERSION header format.Expected header in format 'x.y.z' but received `+v+`"}`)
	}
	for _, v := range []string{"0.7.9", "0.0.1"} {
		ts.expect(ts.do("GET", "/api/hello", nil, "X-PREFECT-API-VERSION", v), http.StatusBadRequest,
			`{"detail":"The request specified API version `+v+` but this server requires version 0.8.0 or higher."}`)
	}
	// As in Prefect: /health and /version sit outside the version check, and
	// an unknown path is a 404 whatever the header says.
	ts.expect(ts.do("GET", "/api/health", nil, "X-PREFECT-API-VERSION", "abc"), http.StatusOK, `true`)
	ts.expect(ts.do("GET", "/api/version", nil, "X-PREFECT-API-VERSION", "abc"), http.StatusOK, `"0.8.4"`)
	ts.expect(ts.do("GET", "/api/nope", nil, "X-PREFECT-API-VERSION", "abc"), http.StatusNotFound, `{"detail":"Not Found"}`)
	// GET routes do not serve HEAD, as in FastAPI.
	r := ts.do("HEAD", "/api/version", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.Status)
	require.Equal(t, "GET", r.Header.Get("Allow"))
	ts.expect(ts.do("POST", "/api/flows/filter", nil, "X-PREFECT-API-VERSION", "0.7.0"), http.StatusBadRequest,
		`{"detail":"The request specified API version 0.7.0 but this server requires version 0.8.0 or higher."}`)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) { s.MaxRequestBody = 256 })
	big := map[string]any{"name": "big", "value": string(make([]byte, 300))}
	ts.expect(ts.do("POST", "/api/variables/", big), http.StatusRequestEntityTooLarge, `{"detail":"Request body too large"}`)

	// Unknown length (a client request with ContentLength 0 and a body is sent
	// chunked): the handler's read fails before anything is stored.
	pr, pw := newChunkedBody(`{"name":"chunked","value":"` + string(make([]byte, 300)) + `"}`)
	req, err := http.NewRequest("POST", ts.srv.URL+"/api/variables/", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	go pw()
	res, err := ts.srv.Client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)

	ts.expect(ts.do("GET", "/api/variables/name/big", nil), http.StatusNotFound, variableNotFound)
	ts.expect(ts.do("GET", "/api/variables/name/chunked", nil), http.StatusNotFound, variableNotFound)
	ts.createVariable(map[string]any{"name": "small", "value": "ok"})
}

// faultyStore injects failures into a real store.
type faultyStore struct {
	storage.Store
	pingErr error
}

func (f faultyStore) Ping(ctx context.Context) error { return f.pingErr }

func (f faultyStore) FlowGet(ctx context.Context, id uuid.UUID) (*apitype.Flow, error) {
	panic("boom: programming error")
}

func (f faultyStore) FlowList(ctx context.Context, p *storage.FlowListParams) ([]apitype.Flow, error) {
	return nil, errors.New("disk on fire")
}

func TestFailuresBecomeOpaque500s(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, nil, func(s storage.Store) storage.Store {
		return faultyStore{Store: s, pingErr: errors.New("database is locked")}
	})
	ts.expect(ts.do("GET", "/api/ready", nil), http.StatusServiceUnavailable, `{"message":"Database is not available"}`)
	panicPath := "/api/flows/" + uuid.NewString()
	ts.expect(ts.do("GET", panicPath, nil), http.StatusInternalServerError,
		`{"exception_message":"Internal Server Error"}`)
	ts.expect(ts.do("POST", "/api/flows/filter", nil), http.StatusInternalServerError,
		`{"exception_message":"Internal Server Error"}`)
	// The server survived the panic, and the causes went to the log only.
	ts.expect(ts.do("GET", "/api/health", nil), http.StatusOK, `true`)
	logs := ts.logBuf.String()
	require.Contains(t, logs, "boom: programming error")
	require.Contains(t, logs, "disk on fire")
	require.Contains(t, logs, "path="+panicPath+" status=500", "the request log records the panic as a 500")
}

// retryingStore fails writes the way a PostgreSQL deadlock does.
type retryingStore struct{ storage.Store }

func (retryingStore) VariableCreate(context.Context, *storage.VariableCreateParams) (*apitype.Variable, error) {
	return nil, fmt.Errorf("insert variable: %w: deadlock detected", storage.ErrRetryable)
}

// A transient database conflict is Prefect's 503, which its clients retry;
// nothing about it reaches the body.
func TestRetryableErrorsAre503(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, nil, func(s storage.Store) storage.Store { return retryingStore{s} })
	ts.expect(ts.do("POST", "/api/variables/", map[string]any{"name": "v", "value": 1}), http.StatusServiceUnavailable,
		`{"exception_message":"Service Unavailable"}`)
	require.Contains(t, ts.logBuf.String(), "deadlock detected")
}

func TestUISettingsWithUIMounted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) { s.UIServeBase = "/prefect" })
	h, err := NewHandler(Deps{Settings: ts.cfg, Store: ts.store, UIMounted: true})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/prefect/ui-settings", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"api_url":"http://127.0.0.1:4200/api","csrf_enabled":false,"auth":null,"flags":[],
		"default_ui":"v1","available_uis":["v1"],"v1_base_url":"/prefect","v2_base_url":null}`, rec.Body.String())
}
