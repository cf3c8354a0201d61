package bench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (python3 (uvicorn)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 5 0 123 456789 9000 18446744073709551615"
	st, err := parseProcStat(line)
	require.NoError(t, err)
	require.Equal(t, procStat{ppid: 17, utime: 250, stime: 50, cutime: 7, cstime: 3, rssPages: 9000}, st)
	_, err = parseProcStat("4242 (x) S 1 2")
	require.Error(t, err)
}

func TestSampleTreeCountsChildren(t *testing.T) {
	alone, err := SampleTree(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, alone.RSSBytes)
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	with, err := SampleTree(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, alone.Pids+1, with.Pids, "the child is part of the tree")
	require.Greater(t, with.RSSBytes, alone.RSSBytes)
	_, err = SampleTree(1 << 30)
	require.Error(t, err)
}

func TestSummaryPercentiles(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- { // unsorted on purpose
		l.Add(time.Duration(i) * time.Millisecond)
	}
	s := l.Summary()
	require.Equal(t, Summary{N: 100, P50: 50, P99: 99, Max: 100}, s)
	require.Equal(t, Summary{}, (&Latencies{}).Summary())
}

func TestErrorsGroupAndSample(t *testing.T) {
	var e Errors
	e.Add("POST /flow_runs/ 500", "first")
	e.Add("POST /flow_runs/ 500", "second")
	e.Add("POST /logs/ 422", "bad")
	require.Equal(t, 3, e.Total())
	require.Equal(t, []string{"POST /flow_runs/ 500 ×2: first", "POST /logs/ 422 ×1: bad"}, e.Lines())
	require.Equal(t, "/flow_runs/{id}/set_state", route("/flow_runs/0b0c3f1e-8a3c-4f43-9d0e-6f0b8ad1b2c3/set_state"))
}

func TestTargets(t *testing.T) {
	p := &ServerResult{IdleRSS: 200 << 20, Startup: 10 * time.Second,
		Lifecycle: &LifecycleResult{RunsPerS: 50}, Events: &EventsResult{EventsPerS: 1000},
		Reads: []ReadResult{{Query: ReadQuery{Target: true}, Latency: Summary{P99: 100}}, {Query: ReadQuery{Target: false}, Latency: Summary{P99: 100}}}}
	w := &ServerResult{IdleRSS: 30 << 20, Startup: 2 * time.Second,
		Lifecycle: &LifecycleResult{RunsPerS: 600}, Events: &EventsResult{EventsPerS: 5000},
		Reads: []ReadResult{{Query: ReadQuery{Target: true}, Latency: Summary{P99: 5}}, {Query: ReadQuery{Target: false}, Latency: Summary{P99: 500}}}}
	met := map[string]bool{}
	for _, tg := range Targets(p, w) {
		require.True(t, tg.Defined, tg.Name)
		met[tg.Name] = tg.Met
	}
	require.Equal(t, map[string]bool{
		"flow-run lifecycle throughput":         true,  // 12×
		"event ingest (end to end)":             false, // 5×
		"/flow_runs/filter p99 (worst query)":   true,  // 0.05; the non-target query is ignored
		"idle RSS":                              true,  // 0.15
		"start-up to first healthy /api/health": false, // 0.2
	}, met)
}

func TestFingerprint(t *testing.T) {
	fp, answer, err := fingerprint(json.RawMessage(`42`))
	require.NoError(t, err)
	require.Equal(t, "42", fp)
	require.Equal(t, "count 42", answer)
	a, _, err := fingerprint(json.RawMessage(`[{"id":"a","state_type":"COMPLETED","created":"x"},{"id":"b"}]`))
	require.NoError(t, err)
	b, _, err := fingerprint(json.RawMessage(`[{"id":"a","state_type":"COMPLETED","created":"y"},{"id":"b"}]`))
	require.NoError(t, err)
	require.Equal(t, a, b, "timestamps do not matter")
	c, answer, err := fingerprint(json.RawMessage(`[{"id":"b"},{"id":"a","state_type":"COMPLETED"}]`))
	require.NoError(t, err)
	require.NotEqual(t, a, c, "order does")
	require.Equal(t, "2 rows", answer)
	_, _, err = fingerprint(json.RawMessage(`{"detail":"x"}`))
	require.Error(t, err)
}

// TestWorkloadsAgainstWarden runs the harness's HTTP and websocket
// workloads, small, against a real Warden process built from this checkout
// (or WARDEN_BENCH_BINARY), and checks they complete with zero errors and
// that the server saw what was sent.
func TestWorkloadsAgainstWarden(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts warden")
	}
	bin := os.Getenv("WARDEN_BENCH_BINARY")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "warden")
		out, err := exec.Command("go", "build", "-o", bin, "../cmd/warden").CombinedOutput()
		require.NoError(t, err, string(out))
	}
	home := t.TempDir()
	db := filepath.Join(home, "warden.db")
	ctx := context.Background()
	srv, err := Start(ctx, ServerSpec{Kind: Warden, Command: []string{bin, "server", "start"}, Home: home,
		DatabaseURL: "sqlite+aiosqlite:///" + db, DBFiles: []string{db}}, "server.log")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	require.Positive(t, srv.Startup)
	var errs Errors
	api := NewAPI(srv.URL, 4, &errs)
	defer api.Close()

	lc, err := RunLifecycle(ctx, srv, api, 4, time.Second)
	require.NoError(t, err)
	require.Positive(t, lc.Runs)
	require.Zero(t, lc.Rejected)
	var completed int
	require.NoError(t, api.Post(ctx, "/flow_runs/count", map[string]any{"flow_runs": map[string]any{
		"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}}}}, &completed))
	require.EqualValues(t, lc.Runs, completed, "every counted run is COMPLETED on the server")
	require.Positive(t, lc.PeakRSS)

	ev, err := RunEvents(ctx, api, 300, 3, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 300, ev.Recorded)
	require.Zero(t, ev.Lost)

	lg, err := RunLogs(ctx, api, 1000, 200, 2)
	require.NoError(t, err)
	require.Equal(t, 5, lg.Request.N)
	var logs []map[string]any
	require.NoError(t, api.Post(ctx, "/logs/filter", map[string]any{"limit": 200, "offset": 800, "sort": "TIMESTAMP_ASC"}, &logs))
	require.Len(t, logs, 200, "all 1000 logs were stored")

	require.Zero(t, errs.Total(), errs.Lines())
	require.NoError(t, srv.Stop())
	locked, _, _ := srv.LogProblems()
	require.Zero(t, locked)
	require.Positive(t, DBSize([]string{db}))
}
