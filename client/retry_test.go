package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scripted serves the given responses in order on one route, then 200 {"ok": true}.
type scripted struct {
	status     int
	retryAfter string
	maintain   bool
}

func serveScript(fs *fakeServer, pattern string, script []scripted) *atomic.Int32 {
	var hits atomic.Int32
	fs.mux.HandleFunc(pattern, func(w http.ResponseWriter, _ *http.Request) {
		n := int(hits.Add(1)) - 1
		if n >= len(script) {
			writeJSON(w, 200, map[string]bool{"ok": true})
			return
		}
		s := script[n]
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		if s.maintain {
			w.Header().Set("Prefect-Maintenance", "true")
		}
		writeJSON(w, s.status, map[string]string{"detail": "busy " + strconv.Itoa(n)})
	})
	return &hits
}

// recordSleeps replaces the Sleep hook with one that records and returns at once.
func recordSleeps(cfg *Config) func() []time.Duration {
	var mu sync.Mutex
	var got []time.Duration
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
		return ctx.Err()
	}
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), got...)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "")
	at := fs.clock.Now().Add(7 * time.Second).Format(http.TimeFormat)
	hits := serveScript(fs, "POST /api/work", []scripted{
		{status: 429, retryAfter: "3"},
		{status: 503, retryAfter: at},                              // HTTP-date form
		{status: 502, retryAfter: "0.5"},                           // fractional seconds, as Python accepts
		{status: 408, retryAfter: "Mon, 01 Jan 2001 00:00:00 GMT"}, // past date → no wait
	})
	cfg := fs.config(t)
	sleeps := recordSleeps(&cfg)
	c, err := New(cfg)
	require.NoError(t, err)

	var out map[string]bool
	status, err := c.Do(context.Background(), http.MethodPost, "/work", map[string]int{"n": 1}, &out)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.True(t, out["ok"])
	require.EqualValues(t, 5, hits.Load())
	require.Equal(t, []time.Duration{3 * time.Second, 7 * time.Second, 500 * time.Millisecond, 0}, sleeps())
	require.Equal(t, 1, fs.tokenFetches(), "the token survives retries")

	reqs := fs.recorded()
	require.Len(t, reqs, 5)
	for _, r := range reqs {
		require.JSONEq(t, `{"n":1}`, string(r.Body), "body replayed on every attempt")
	}
}

func TestRetryExponentialBackoffAndBudget(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	hits := serveScript(fs, "GET /api/work", []scripted{{status: 503}, {status: 503}, {status: 503}, {status: 503}})
	cfg := fs.config(t)
	cfg.MaxRetries = 2
	sleeps := recordSleeps(&cfg)
	c, err := New(cfg)
	require.NoError(t, err)

	status, err := c.Do(context.Background(), http.MethodGet, "/work", nil, nil)
	require.Equal(t, 503, status)
	require.ErrorContains(t, err, "GET /work: 503 Service Unavailable: busy 2")
	require.EqualValues(t, 3, hits.Load(), "one attempt plus MaxRetries")
	require.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second}, sleeps())
}

func TestRetryJitterBounds(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	serveScript(fs, "GET /api/header", []scripted{{status: 429, retryAfter: "10"}})
	serveScript(fs, "GET /api/backoff", []scripted{{status: 429}})
	cfg := fs.config(t)
	cfg.RetryJitterFactor = 0.2
	sleeps := recordSleeps(&cfg)
	c, err := New(cfg)
	require.NoError(t, err)

	_, err = c.Do(context.Background(), http.MethodGet, "/header", nil, nil)
	require.NoError(t, err)
	_, err = c.Do(context.Background(), http.MethodGet, "/backoff", nil, nil)
	require.NoError(t, err)
	got := sleeps()
	require.Len(t, got, 2)
	// Retry-After is a floor: jitter only adds.
	require.GreaterOrEqual(t, got[0], 10*time.Second)
	require.LessOrEqual(t, got[0], 12*time.Second)
	// Backoff jitter is symmetric around 2**1 s.
	require.GreaterOrEqual(t, got[1], 1600*time.Millisecond)
	require.LessOrEqual(t, got[1], 2400*time.Millisecond)
}

func TestRetryMaintenanceNotCounted(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	script := []scripted{}
	for range 4 {
		script = append(script, scripted{status: 503, maintain: true, retryAfter: "1"})
	}
	hits := serveScript(fs, "GET /api/work", script)
	cfg := fs.config(t)
	cfg.MaxRetries = 1
	sleeps := recordSleeps(&cfg)
	c, err := New(cfg)
	require.NoError(t, err)

	_, err = c.Do(context.Background(), http.MethodGet, "/work", nil, nil)
	require.NoError(t, err, "four maintenance answers do not exhaust MaxRetries=1")
	require.EqualValues(t, 5, hits.Load())
	require.Len(t, sleeps(), 4)
}

func TestRetryMaintenanceCapped(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	var hits atomic.Int32
	fs.mux.HandleFunc("GET /api/forever", func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Prefect-Maintenance", "true")
		writeJSON(w, 503, map[string]string{"detail": "maintenance"})
	})
	cfg := fs.config(t)
	cfg.MaxRetries = 0
	recordSleeps(&cfg)
	c, err := New(cfg)
	require.NoError(t, err)

	_, err = c.Do(context.Background(), http.MethodGet, "/forever", nil, nil)
	require.ErrorContains(t, err, "503 Service Unavailable: maintenance")
	require.EqualValues(t, maintenanceAttempts, hits.Load())
}

func TestRetryCodes(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	plain := serveScript(fs, "GET /api/plain", []scripted{{status: 500}})
	extra := serveScript(fs, "GET /api/extra", []scripted{{status: 500}})
	cfg := fs.config(t)
	recordSleeps(&cfg)
	c, err := New(cfg)
	require.NoError(t, err)
	_, err = c.Do(context.Background(), http.MethodGet, "/plain", nil, nil)
	require.ErrorContains(t, err, "500 Internal Server Error")
	require.EqualValues(t, 1, plain.Load(), "500 is not retried by default")

	cfg.RetryExtraCodes = []int{500}
	c, err = New(cfg)
	require.NoError(t, err)
	_, err = c.Do(context.Background(), http.MethodGet, "/extra", nil, nil)
	require.NoError(t, err)
	require.EqualValues(t, 2, extra.Load())
}

// The real sleep (nil hook) must return as soon as ctx is cancelled.
func TestContextCancelDuringRetrySleep(t *testing.T) {
	fs := newFakeServer(t, csrfOff, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hit := make(chan struct{})
	fs.mux.HandleFunc("GET /api/slow", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		writeJSON(w, 503, map[string]string{"detail": "later"})
		close(hit) // a second attempt would panic here
	})
	cfg := fs.config(t)
	cfg.Sleep = nil
	c, err := New(cfg)
	require.NoError(t, err)

	go func() {
		<-hit
		cancel()
	}()
	start := time.Now()
	_, err = c.Do(ctx, http.MethodGet, "/slow", nil, nil)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	require.Less(t, time.Since(start), time.Minute)
}

func TestContextCancelledBeforeSend(t *testing.T) {
	fs := newFakeServer(t, csrfOn, "")
	c, err := New(fs.config(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Do(ctx, http.MethodPost, "/flows/", map[string]string{"name": "x"}, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, fs.recorded())
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{" 1.25 ", 1250 * time.Millisecond, true},
		{"-3", 0, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},
		{"", 0, false},
		{"soon", 0, false},
		{"NaN", 0, false},
		{"1e300", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		require.Equal(t, tt.ok, ok, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}
