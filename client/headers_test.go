package client

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func TestDefaultHeaders(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	c, err := New(fs.config(t))
	require.NoError(t, err)

	hello, err := c.Hello(context.Background())
	require.NoError(t, err)
	require.Equal(t, "👋", hello)

	h := fs.lastRequest(t).Header
	require.Equal(t, "warden-client/"+Version+" (API 0.8.4)", h.Get("User-Agent"))
	require.Equal(t, "0.8.4", h.Get("X-Prefect-Api-Version"))
	require.Empty(t, h.Get("Authorization"))
	require.Empty(t, h.Get("Prefect-Csrf-Token"))
}

func TestCustomHeadersAppliedAndProtectedIgnored(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "")
	logger, logs := captureLogger()
	cfg := fs.config(t)
	cfg.Logger = logger
	cfg.CustomHeaders = map[string]string{
		"X-Team":                "data",
		"X-PREFECT-API-VERSION": "0.8.9", // not protected: overrides the default, as in Python
		"user-agent":            "evil/1.0",
		"Prefect-Csrf-Token":    "forged",
		"PREFECT-CSRF-CLIENT":   "forged-client",
	}
	c, err := New(cfg)
	require.NoError(t, err)

	// Warnings are logged once, at New, one per ignored header.
	lines := logs.lines()
	require.Len(t, lines, 3)
	for i, name := range []string{"PREFECT-CSRF-CLIENT", "Prefect-Csrf-Token", "user-agent"} {
		require.Contains(t, lines[i], "level=WARN")
		require.Contains(t, lines[i], "Custom header '"+name+"' is ignored because it conflicts with a protected header "+
			"managed by Prefect. Protected headers include: User-Agent, Prefect-Csrf-Token, Prefect-Csrf-Client")
	}

	_, err = c.CreateFlow(context.Background(), apitype.FlowCreate{Name: "etl"})
	require.NoError(t, err)
	_, err = c.Hello(context.Background())
	require.NoError(t, err)
	require.Len(t, logs.lines(), 3, "no further warnings per request")

	fs.mu.Lock()
	all := append([]recordedRequest(nil), fs.requests...)
	fs.mu.Unlock()
	require.Len(t, all, 3) // token fetch, POST /flows/, GET /hello
	require.Equal(t, "/api/csrf-token", all[0].Path)
	for _, r := range all {
		require.Equal(t, "data", r.Header.Get("X-Team"), r.Path)
		require.Equal(t, "0.8.9", r.Header.Get("X-Prefect-Api-Version"), r.Path)
		require.True(t, strings.HasPrefix(r.Header.Get("User-Agent"), "warden-client/"), r.Path)
	}
	post := all[1]
	require.Equal(t, http.MethodPost, post.Method)
	require.NotEqual(t, "forged", post.Header.Get("Prefect-Csrf-Token"))
	require.Len(t, post.Header.Get("Prefect-Csrf-Token"), 64)
	require.Equal(t, c.csrfClientID(), post.Header.Get("Prefect-Csrf-Client"))
	require.Equal(t, "client="+c.csrfClientID(), all[0].Query)
}

func TestPerRequestHeaders(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	cfg := fs.config(t)
	cfg.CustomHeaders = map[string]string{"X-Team": "data"}
	c, err := New(cfg)
	require.NoError(t, err)

	_, err = c.DoWithHeader(context.Background(), "get", "/hello", http.Header{"X-Team": {"ops"}, "X-Trace": {"1"}}, nil, nil)
	require.NoError(t, err)
	h := fs.lastRequest(t).Header
	require.Equal(t, "ops", h.Get("X-Team"))
	require.Equal(t, "1", h.Get("X-Trace"))
	require.Equal(t, http.MethodGet, fs.lastRequest(t).Method)
}

func TestAuthorizationHeader(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:päss:word"))
	tests := []struct {
		name       string
		authString string
		apiKey     string
		custom     map[string]string
		want       string
		warn       bool
	}{
		{name: "none"},
		{name: "auth string", authString: "admin:päss:word", want: basic},
		{name: "api key", apiKey: "pnu_key", want: "Bearer pnu_key"},
		{name: "both: key wins and warns", authString: "admin:päss:word", apiKey: "pnu_key", want: "Bearer pnu_key", warn: true},
		{
			name: "custom overrides both", authString: "admin:päss:word", apiKey: "pnu_key",
			custom: map[string]string{"authorization": "Token proxy"}, want: "Token proxy",
		},
		{name: "custom overrides auth string", authString: "a:b", custom: map[string]string{"Authorization": "Token x"}, want: "Token x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, csrfOff, "")
			logger, logs := captureLogger()
			cfg := fs.config(t)
			cfg.Logger = logger
			cfg.AuthString, cfg.APIKey, cfg.CustomHeaders = tt.authString, tt.apiKey, tt.custom
			c, err := New(cfg)
			require.NoError(t, err)
			require.NoError(t, c.Health(context.Background()))
			require.Equal(t, tt.want, fs.lastRequest(t).Header.Get("Authorization"))

			if !tt.warn {
				require.Empty(t, logs.String())
				return
			}
			lines := logs.lines()
			require.Len(t, lines, 1)
			for _, part := range []string{
				"level=WARN", "the API key", "Bearer", "self-hosted server configured only with an auth string will answer 401",
				"current Prefect Python clients do the opposite and send the auth string",
			} {
				require.Contains(t, lines[0], part)
			}
			require.NotContains(t, lines[0], "pnu_key", "secret in log")
			require.NotContains(t, lines[0], "päss", "secret in log")
		})
	}
}

// With both set the key is sent, so a server that only knows the auth
// string refuses it: the situation the warning describes.
func TestAPIKeyPrecedenceAgainstAuthServer(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "admin:secret")
	cfg := fs.config(t)
	cfg.AuthString, cfg.APIKey = "admin:secret", "pnu_key"
	c, err := New(cfg)
	require.NoError(t, err)
	_, err = c.Hello(context.Background())
	require.True(t, IsUnauthorized(err), "got %v", err)
	require.Contains(t, err.Error(), "GET /hello: 401 Unauthorized: Unauthorized")

	cfg.APIKey = ""
	c, err = New(cfg)
	require.NoError(t, err)
	_, err = c.Hello(context.Background())
	require.NoError(t, err)
}
