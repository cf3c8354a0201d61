package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// apiTestServer is a Prefect-like server with CSRF protection off and
// Basic auth "admin:pw"; it records the requests it serves.
type apiTestServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []apiTestRequest
}

type apiTestRequest struct {
	Method, Path string
	Header       http.Header
	Body         string
}

func newAPITestServer(t *testing.T) *apiTestServer {
	t.Helper()
	s := &apiTestServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/csrf-token", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(422)
		io.WriteString(w, `{"detail":"CSRF protection is disabled."}`)
	})
	mux.HandleFunc("POST /api/flows/filter", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `[{"name":"etl","tags":["a"]}]`)
	})
	mux.HandleFunc("GET /api/flows/name/{name}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, `{"detail":"Flow not found"}`)
	})
	mux.HandleFunc("DELETE /api/flows/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain text") })
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pw"))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, apiTestRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(401)
			io.WriteString(w, `{"exception_message":"Unauthorized"}`)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// requests returns the recorded requests, without CSRF token fetches.
func (s *apiTestServer) requests() []apiTestRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []apiTestRequest
	for _, r := range s.reqs {
		if r.Path != "/api/csrf-token" {
			out = append(out, r)
		}
	}
	return out
}

type apiRun struct {
	stdout, stderr string
	err            error
}

// runAPICommand runs `warden <args>` in-process with an isolated home and
// the given extra environment.
func runAPICommand(t *testing.T, env []string, stdin string, args ...string) apiRun {
	t.Helper()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	app := &App{
		Stdin:   strings.NewReader(stdin),
		Stdout:  &stdout,
		Stderr:  &stderr,
		Environ: append([]string{"HOME=" + dir, "PREFECT_HOME=" + filepath.Join(dir, ".prefect")}, env...),
		Dir:     dir,
	}
	cmd := NewRootCommand(app)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return apiRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func (s *apiTestServer) env(extra ...string) []string {
	return append([]string{"PREFECT_API_URL=" + s.srv.URL + "/api", "PREFECT_API_AUTH_STRING=admin:pw"}, extra...)
}

func TestAPICommandPrettyPrintsAndSendsSettings(t *testing.T) {
	s := newAPITestServer(t)
	run := runAPICommand(t, s.env(`PREFECT_CLIENT_CUSTOM_HEADERS={"X-Team": "data"}`), "",
		"api", "post", "/flows/filter", "--data", `{"limit": 10}`, "-H", "X-Trace: abc:1")
	require.NoError(t, run.err)
	require.Equal(t, "[\n  {\n    \"name\": \"etl\",\n    \"tags\": [\n      \"a\"\n    ]\n  }\n]\n", run.stdout)
	require.Empty(t, run.stderr)

	reqs := s.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, "POST", r.Method)
	require.JSONEq(t, `{"limit": 10}`, r.Body)
	require.Equal(t, "data", r.Header.Get("X-Team"))
	require.Equal(t, "abc:1", r.Header.Get("X-Trace"))
	require.Equal(t, "0.8.4", r.Header.Get("X-Prefect-Api-Version"))
	require.Empty(t, r.Header.Get("Prefect-Csrf-Token"), "CSRF switched off by the server's 422")
}

func TestAPICommandDataSources(t *testing.T) {
	s := newAPITestServer(t)
	file := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"from": "file"}`), 0o600))

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{name: "default body", args: []string{"api", "POST", "/flows/filter"}, want: `{}`},
		{name: "file", args: []string{"api", "POST", "/flows/filter", "--data", "@" + file}, want: `{"from": "file"}`},
		{name: "stdin", stdin: `{"from": "stdin"}`, args: []string{"api", "POST", "/flows/filter", "--data", "-"}, want: `{"from": "stdin"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.requests())
			run := runAPICommand(t, s.env(), tc.stdin, tc.args...)
			require.NoError(t, run.err)
			reqs := s.requests()
			require.Len(t, reqs, before+1)
			require.JSONEq(t, tc.want, reqs[len(reqs)-1].Body)
		})
	}
}

func TestAPICommandErrorStatus(t *testing.T) {
	s := newAPITestServer(t)
	run := runAPICommand(t, s.env(), "", "api", "GET", "/flows/name/nope")
	require.Error(t, run.err)
	require.Contains(t, run.err.Error(), "GET /flows/name/nope: 404 Not Found: Flow not found")
	require.Equal(t, "{\n  \"detail\": \"Flow not found\"\n}\n", run.stdout)
	require.Equal(t, "HTTP 404 Not Found\n", run.stderr)

	// --fail keeps stdout for successful bodies only.
	run = runAPICommand(t, s.env(), "", "api", "GET", "/flows/name/nope", "--fail")
	require.Error(t, run.err)
	require.Empty(t, run.stdout)
	require.Equal(t, "HTTP 404 Not Found\n{\n  \"detail\": \"Flow not found\"\n}\n", run.stderr)

	// Wrong credentials: 401, and the secret appears nowhere.
	run = runAPICommand(t, []string{"PREFECT_API_URL=" + s.srv.URL + "/api", "PREFECT_API_AUTH_STRING=admin:wrong"}, "",
		"api", "GET", "/hello")
	require.ErrorContains(t, run.err, "401 Unauthorized")
	require.NotContains(t, run.err.Error()+run.stdout+run.stderr, "wrong")
}

func TestAPICommandEmptyAndPlainBodies(t *testing.T) {
	s := newAPITestServer(t)
	run := runAPICommand(t, s.env(), "", "api", "DELETE", "/flows/6c1c3d4e-0000-4000-8000-000000000000")
	require.NoError(t, run.err)
	require.Empty(t, run.stdout)
	require.Empty(t, run.stderr)

	run = runAPICommand(t, s.env(), "", "api", "GET", "/hello")
	require.NoError(t, run.err)
	require.Equal(t, "plain text\n", run.stdout)
}

func TestAPICommandInputErrors(t *testing.T) {
	s := newAPITestServer(t)
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{env: []string{}, args: []string{"api", "GET", "/hello"}, want: "PREFECT_API_URL is not set"},
		{env: s.env(), args: []string{"api", "FETCH", "/hello"}, want: `invalid HTTP method "FETCH"`},
		{env: s.env(), args: []string{"api", "GET", "/hello", "-H", "no-colon"}, want: `invalid header "no-colon"`},
		{env: s.env(), args: []string{"api", "POST", "/flows/filter", "--data", "{nope"}, want: "invalid JSON in --data"},
		{env: s.env(), args: []string{"api", "POST", "/flows/filter", "--data", "@missing.json"}, want: "read --data file"},
	} {
		run := runAPICommand(t, tc.env, "", tc.args...)
		require.ErrorContains(t, run.err, tc.want)
	}
	require.Empty(t, s.requests(), "nothing is sent on input errors")
}

// clientFromSettings is reused by other commands; it must carry settings through.
func TestClientFromSettings(t *testing.T) {
	s := newAPITestServer(t)
	dir := t.TempDir()
	app := &App{
		Stdout: io.Discard, Stderr: io.Discard,
		Environ: append([]string{"HOME=" + dir, "PREFECT_HOME=" + dir}, s.env()...),
		Dir:     dir,
	}
	c, err := clientFromSettings(app)
	require.NoError(t, err)
	defer c.Close()
	var out json.RawMessage
	_, err = c.Do(context.Background(), http.MethodPost, "/flows/filter", map[string]any{}, &out)
	require.NoError(t, err)
	require.JSONEq(t, `[{"name":"etl","tags":["a"]}]`, string(out))
}
