package client

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func TestCSRFTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	fs := newFakeServer(t, csrfOn, "")
	fs.csrfTTL = time.Hour
	c, err := New(fs.config(t))
	require.NoError(t, err)

	// Reads never need a token.
	_, err = c.Hello(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, fs.tokenFetches())

	// The first write fetches one, before sending.
	_, err = c.CreateFlow(ctx, apitype.FlowCreate{Name: "a"})
	require.NoError(t, err)
	require.Equal(t, 1, fs.tokenFetches())
	first := fs.lastRequest(t).Header.Get("Prefect-Csrf-Token")
	require.NotEmpty(t, first)

	// Later writes reuse it while it is valid.
	fs.clock.Advance(time.Hour - time.Second)
	_, err = c.CreateFlow(ctx, apitype.FlowCreate{Name: "b"})
	require.NoError(t, err)
	require.Equal(t, 1, fs.tokenFetches())
	require.Equal(t, first, fs.lastRequest(t).Header.Get("Prefect-Csrf-Token"))

	// At expiry, the next write fetches a new one first, without first being
	// rejected by the server (which accepts only expiration > now).
	fs.clock.Advance(time.Second)
	_, err = c.CreateFlow(ctx, apitype.FlowCreate{Name: "c"})
	require.NoError(t, err)
	require.Equal(t, 2, fs.tokenFetches())
	require.Len(t, fs.recorded(), 4, "hello + three writes, none rejected")
	second := fs.lastRequest(t).Header.Get("Prefect-Csrf-Token")
	require.NotEqual(t, first, second)
	require.Equal(t, c.csrfClientID(), fs.lastRequest(t).Header.Get("Prefect-Csrf-Client"))
}

func TestCSRFInvalidTokenRetriedOnceWithFreshToken(t *testing.T) {
	ctx := context.Background()
	fs := newFakeServer(t, csrfOn, "")
	c, err := New(fs.config(t)) // its Sleep fails the test: the CSRF retry must not back off
	require.NoError(t, err)

	_, err = c.CreateFlow(ctx, apitype.FlowCreate{Name: "a"})
	require.NoError(t, err)
	stale := fs.lastRequest(t).Header.Get("Prefect-Csrf-Token")

	fs.revokeTokens() // the server forgets the token though it has not expired
	f, err := c.CreateFlow(ctx, apitype.FlowCreate{Name: "b"})
	require.NoError(t, err)
	require.Equal(t, "b", f.Name)
	require.Equal(t, 2, fs.tokenFetches())

	reqs := fs.recorded()
	require.Len(t, reqs, 3) // a; b rejected; b resent
	require.Equal(t, stale, reqs[1].Header.Get("Prefect-Csrf-Token"))
	fresh := reqs[2].Header.Get("Prefect-Csrf-Token")
	require.NotEqual(t, stale, fresh)
	require.Equal(t, reqs[1].Body, reqs[2].Body, "body replayed")
}

func TestCSRFInvalidTokenRetriedOnlyOnce(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "")
	var rejections atomic.Int32
	fs.mux.HandleFunc("POST /api/always-invalid", func(w http.ResponseWriter, _ *http.Request) {
		rejections.Add(1)
		writeJSON(w, 403, map[string]string{"detail": "Invalid CSRF token or client identifier."})
	})
	c, err := New(fs.config(t))
	require.NoError(t, err)

	status, err := c.Do(context.Background(), http.MethodPost, "/always-invalid", map[string]int{}, nil)
	require.Equal(t, 403, status)
	require.ErrorContains(t, err, "POST /always-invalid: 403 Forbidden: Invalid CSRF token or client identifier.")
	require.EqualValues(t, 2, rejections.Load())
	require.Equal(t, 2, fs.tokenFetches())
}

func TestCSRFMissingTokenNotRetried(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "")
	cfg := fs.config(t)
	cfg.CSRFSupportEnabled = false // the server wants tokens, the client sends none
	c, err := New(cfg)
	require.NoError(t, err)

	_, err = c.CreateFlow(context.Background(), apitype.FlowCreate{Name: "a"})
	require.ErrorContains(t, err, "403 Forbidden: Missing CSRF token.")
	require.Equal(t, 0, fs.tokenFetches())
	require.Len(t, fs.recorded(), 1)
}

func TestCSRFSwitchOff(t *testing.T) {
	for name, mode := range map[string]csrfMode{"404": csrfNotFound, "422 disabled": csrfOff} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			fs := newFakeServer(t, mode, "")
			c, err := New(fs.config(t))
			require.NoError(t, err)

			for _, n := range []string{"a", "b", "c"} {
				_, err = c.CreateFlow(ctx, apitype.FlowCreate{Name: n})
				require.NoError(t, err)
				h := fs.lastRequest(t).Header
				require.Empty(t, h.Get("Prefect-Csrf-Token"))
				require.Empty(t, h.Get("Prefect-Csrf-Client"))
			}
			require.Equal(t, 1, fs.tokenFetches(), "asks once, then never again")
		})
	}
}

// A 422 without the marker text is an error, not a switch-off.
func TestCSRFTokenFetchErrors(t *testing.T) {
	t.Run("422 other", func(t *testing.T) {
		fs := newFakeServer(t, csrfBroken, "")
		c, err := New(fs.config(t))
		require.NoError(t, err)
		_, err = c.CreateFlow(context.Background(), apitype.FlowCreate{Name: "x"})
		require.ErrorContains(t, err, "POST /flows/: fetch CSRF token: GET /csrf-token: 422 Unprocessable Entity: Invalid request received.")
		require.Empty(t, fs.recorded(), "the write is never sent")

		// Not switched off: the next write asks again.
		_, err = c.CreateFlow(context.Background(), apitype.FlowCreate{Name: "x"})
		require.Error(t, err)
		require.Equal(t, 2, fs.tokenFetches())
	})
	t.Run("401", func(t *testing.T) {
		fs := newFakeServer(t, csrfOn, "admin:pw")
		cfg := fs.config(t)
		cfg.AuthString = "admin:wrong"
		c, err := New(cfg)
		require.NoError(t, err)
		_, err = c.CreateFlow(context.Background(), apitype.FlowCreate{Name: "x"})
		require.True(t, IsUnauthorized(err), "got %v", err)
		require.ErrorContains(t, err, "fetch CSRF token")
		require.NotContains(t, err.Error(), "wrong")
		require.Empty(t, fs.recorded(), "the write is never sent")
	})
}

func TestCSRFConcurrentWritersShareOneFetch(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "")
	c, err := New(fs.config(t))
	require.NoError(t, err)

	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CreateFlow(context.Background(), apitype.FlowCreate{Name: string(rune('a' + i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, fs.tokenFetches())
	require.Len(t, fs.recorded(), writers)
}
