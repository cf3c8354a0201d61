package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPIErrorDetail(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"detail":"Flow not found"}`, "Flow not found"},
		{`{"exception_message":"Unauthorized"}`, "Unauthorized"},
		{`{"detail": [ {"loc": ["body","name"], "msg": "field required"} ]}`, `[{"loc":["body","name"],"msg":"field required"}]`},
		{`{"detail":null,"exception_message":"Invalid request received."}`, "Invalid request received."},
		{`"plain json string"`, ""},
		{"upstream timed out\n", "upstream timed out"},
		{"", ""},
	}
	for _, tt := range tests {
		e := newAPIError("POST", "/flows/filter?x=1", 400, []byte(tt.body))
		require.Equal(t, tt.want, e.Detail, tt.body)
		require.Equal(t, "/flows/filter", e.Path)
		if tt.want == "" {
			require.Equal(t, "POST /flows/filter: 400 Bad Request", e.Error())
		} else {
			require.Equal(t, "POST /flows/filter: 400 Bad Request: "+tt.want, e.Error())
		}
	}

	long := strings.Repeat("x", 2000)
	require.Len(t, newAPIError("GET", "/", 502, []byte(long)).Detail, maxPlainDetail+len("…"))
}

func TestErrorHelpers(t *testing.T) {
	wrapped := fmt.Errorf("read flow: %w", newAPIError("GET", "/flows/x", 404, nil))
	require.True(t, IsNotFound(wrapped))
	require.False(t, IsConflict(wrapped))
	require.False(t, IsUnauthorized(wrapped))
	require.True(t, IsConflict(newAPIError("POST", "/variables/", 409, nil)))
	require.True(t, IsUnauthorized(newAPIError("GET", "/hello", 401, nil)))
	require.False(t, IsNotFound(fmt.Errorf("plain")))
	require.False(t, IsNotFound(nil))
}

// Credentials in the API URL authenticate (net/http turns userinfo into Basic
// auth, as httpx does) but never appear in any error message.
func TestUserinfoNeverInErrors(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "alice:s3cret")
	withCreds := strings.Replace(fs.URL(), "http://", "http://alice:s3cret@", 1)
	secrets := []string{"alice", "s3cret", base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))}
	noSecrets := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		for _, s := range secrets {
			require.NotContains(t, err.Error(), s)
		}
	}

	cfg := fs.config(t)
	cfg.APIURL = withCreds
	c, err := New(cfg)
	require.NoError(t, err)
	// Userinfo works as Basic auth, including for the CSRF token fetch.
	_, err = c.Do(context.Background(), http.MethodPost, "/flows/", map[string]string{"name": "a"}, nil)
	require.NoError(t, err)

	_, err = c.Do(context.Background(), http.MethodGet, "/flows/name/missing?token=t0psecret", nil, nil)
	require.True(t, IsNotFound(err))
	noSecrets(t, err)
	require.NotContains(t, err.Error(), "t0psecret")
	require.Equal(t, "GET /flows/name/missing: 404 Not Found: Flow not found", err.Error())

	// Wrong credentials: the 401 message carries neither.
	cfg.APIURL = strings.Replace(fs.URL(), "http://", "http://alice:wrong@", 1)
	c, err = New(cfg)
	require.NoError(t, err)
	_, err = c.Hello(context.Background())
	require.True(t, IsUnauthorized(err))
	require.NotContains(t, err.Error(), "wrong")

	// Transport error against a closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg.APIURL = "http://alice:s3cret@" + addr + "/api"
	c, err = New(cfg)
	require.NoError(t, err)
	_, err = c.Do(context.Background(), http.MethodGet, "/hello?key=t0psecret", nil, nil)
	noSecrets(t, err)
	require.NotContains(t, err.Error(), "t0psecret")
	require.Contains(t, err.Error(), "GET http://"+addr+"/api/hello")

	// Bad URLs.
	for _, raw := range []string{"http://alice:s3cret@host:port/api", "ftp://alice:s3cret@host/api", "http://alice:s3cret@/api"} {
		_, err = New(Config{APIURL: raw})
		noSecrets(t, err)
	}
}

func TestResolvePath(t *testing.T) {
	c, err := New(Config{APIURL: "https://example.com/prefix/api/"})
	require.NoError(t, err)
	for in, want := range map[string]string{
		"/flows/":                   "https://example.com/prefix/api/flows/",
		"flows/filter":              "https://example.com/prefix/api/flows/filter",
		"/variables/name/a%2Fb%20c": "https://example.com/prefix/api/variables/name/a%2Fb%20c",
		"/csrf-token?client=x":      "https://example.com/prefix/api/csrf-token?client=x",
	} {
		u, err := c.resolve(in)
		require.NoError(t, err)
		require.Equal(t, want, u.String(), in)
	}
	_, err = c.resolve("http://evil.example/api")
	require.Error(t, err)
	_, err = c.resolve("//evil.example/api")
	require.Error(t, err)
}
