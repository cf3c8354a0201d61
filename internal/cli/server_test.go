package cli

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is written by the server goroutine while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)`)

// startServer runs `warden server start args...` until the returned stop is
// called; it returns the base URL and the two output streams.
func startServer(t *testing.T, environ []string, args ...string) (base string, stdout, stderr *lockedBuffer, stop func() error) {
	t.Helper()
	app, _ := settingsApp(t, environ...)
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	app.Stdout, app.Stderr = stdout, stderr
	cmd := NewRootCommand(app)
	cmd.SetArgs(append([]string{"server", "start"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("server did not stop within 15s")
			return nil
		}
	}
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("server exited early: %v\nstderr: %s", err, stderr.String())
		default:
		}
		return listenRE.MatchString(stdout.String())
	}, 10*time.Second, 10*time.Millisecond, "no banner; stderr: %s", stderr)
	return listenRE.FindStringSubmatch(stdout.String())[1], stdout, stderr, stop
}

func TestServerStartServesAndStopsGracefully(t *testing.T) {
	base, stdout, stderr, stop := startServer(t, []string{"PREFECT_SERVER_API_AUTH_STRING=admin:cli-secret"}, "--port", "0")
	resp, err := http.Get(base + "/api/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(base + "/api/hello")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	require.NoError(t, stop(), "a cancelled context is a clean shutdown")
	require.Contains(t, stdout.String(), "Auth:     basic")
	require.NotContains(t, stdout.String()+stderr.String(), "cli-secret")
	require.NotContains(t, stderr.String(), "WARNING", "loopback with auth: no exposure warning")
}

func TestServerStartWarnsWhenExposedWithoutAuth(t *testing.T) {
	_, _, stderr, stop := startServer(t, nil, "--host", "0.0.0.0", "--port", "0")
	require.NoError(t, stop())
	require.Contains(t, stderr.String(), "WARNING: Warden is listening on 0.0.0.0 without authentication")
	require.Contains(t, stderr.String(), "PREFECT_SERVER_API_AUTH_STRING")
}

func TestServerStartWarnsOnEmptyAuthString(t *testing.T) {
	base, _, stderr, stop := startServer(t, []string{"PREFECT_SERVER_API_AUTH_STRING="}, "--port", "0")
	resp, err := http.Get(base + "/api/hello")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "an empty auth string is treated as unset")
	require.NoError(t, stop())
	require.True(t, strings.Contains(stderr.String(), "auth_string is set to an empty string"), stderr.String())
}

func TestServerStartRejectsBadSetting(t *testing.T) {
	app, _ := settingsApp(t, "PREFECT_SERVER_API_PORT=forty-two")
	cmd := NewRootCommand(app)
	cmd.SetArgs([]string{"server", "start"})
	err := cmd.Execute()
	require.Error(t, err)
	require.Equal(t, `invalid setting server.api.port from env var PREFECT_SERVER_API_PORT: expected an integer, got "forty-two"`, err.Error())
}
