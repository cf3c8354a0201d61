package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Quick     bool
	Engine    string // "sqlite"
	Work      string // scratch directory
	Python    string // the venv interpreter with the pinned prefect
	Prefect   string // the venv's prefect CLI
	Warden    string // the built warden binary (wardenprof when profiling)
	BenchDir  string // bench/ (seed.py, sdk_flow.py)
	Clients   int
	Lifecycle time.Duration
	TaskRuns  int // event ingest: task runs (3 events each)
	EventConn int
	Logs      int
	LogBatch  int
	SDKTasks  []int
	Data      Dataset
	ReadWarm  int
	ReadIters int
	// ProfileDir, when set, makes the harness record a CPU profile of Warden
	// per workload (Warden must be bench/cmd/wardenprof).
	ProfileDir string
	Logger     *slog.Logger
}

// ServerResult is everything measured for one server.
type ServerResult struct {
	Kind       Kind
	Version    string
	Startup    time.Duration // fresh database (migrations included)
	Restart    time.Duration // with the seeded dataset
	IdleRSS    int64
	Lifecycle  *LifecycleResult
	Events     *EventsResult
	Logs       *LogsResult
	SDK        []*SDKResult
	DBSizeWork int64 // after the write workloads
	DBSizeData int64 // the seeded dataset, after the reads
	SeedTime   time.Duration
	Reads      []ReadResult
	ReadRSS    int64
	Errs       Errors
	LogLocked  int
	LogErrors  int
	LogSample  string
	Failure    string // a workload that could not complete
	Profiles   []string
}

func (c *Config) spec(kind Kind, dir string) ServerSpec {
	db := filepath.Join(dir, string(kind)+".db")
	spec := ServerSpec{Kind: kind, Home: dir, DBFiles: []string{db},
		DatabaseURL: "sqlite+aiosqlite:///" + db,
		// Prefect's defaults, minus the telemetry call home.
		Env: []string{"PREFECT_SERVER_ANALYTICS_ENABLED=false"}}
	if kind == Prefect {
		spec.Command = []string{c.Prefect, "server", "start"}
	} else {
		spec.Command = []string{c.Warden, "server", "start"}
		if c.ProfileDir != "" {
			if port, err := FreePort(); err == nil {
				addr := fmt.Sprintf("127.0.0.1:%d", port)
				spec.ProfileURL = "http://" + addr
				spec.Env = append(spec.Env, "WARDEN_BENCH_PPROF="+addr)
			}
		}
	}
	return spec
}

// RunServer measures one server: the write workloads on a fresh database,
// then the reads on a second database seeded with the dataset. Errors that
// stop a workload are recorded in Failure; the result is always returned.
func (c *Config) RunServer(ctx context.Context, kind Kind) *ServerResult {
	res := &ServerResult{Kind: kind}
	if err := c.writePhase(ctx, kind, res); err != nil {
		res.Failure = strings.TrimPrefix(res.Failure+"; ", "; ") + "write workloads: " + err.Error()
	}
	if err := c.readPhase(ctx, kind, res); err != nil {
		res.Failure = strings.TrimPrefix(res.Failure+"; ", "; ") + "read workloads: " + err.Error()
	}
	return res
}

func (c *Config) writePhase(ctx context.Context, kind Kind, res *ServerResult) error {
	dir := filepath.Join(c.Work, string(kind)+"-write")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	spec := c.spec(kind, dir)
	c.Logger.Info("starting server", "kind", kind, "phase", "write")
	srv, err := Start(ctx, spec, "server.log")
	if err != nil {
		return err
	}
	defer c.finish(srv, res)
	res.Startup = srv.Startup
	api := NewAPI(srv.URL, c.Clients, &res.Errs)
	defer api.Close()
	var version string
	if api.Do(ctx, "GET", "/admin/version", nil, &version) == nil {
		res.Version = version
	}
	// Idle: after start-up work (migrations, service warm-up) settles.
	time.Sleep(3 * time.Second)
	idle, err := srv.Sample()
	if err != nil {
		return err
	}
	res.IdleRSS = idle.RSSBytes

	// A workload that fails is recorded and the next one still runs, so
	// one failure does not hide the other figures.
	fail := func(name string, err error) {
		res.Failure = strings.TrimPrefix(res.Failure+"; ", "; ") + name + ": " + err.Error()
	}
	c.Logger.Info("workload", "kind", kind, "name", "lifecycle", "clients", c.Clients, "duration", c.Lifecycle)
	stop := c.profile(ctx, srv, kind, "lifecycle", res)
	res.Lifecycle, err = RunLifecycle(ctx, srv, api, c.Clients, c.Lifecycle)
	stop()
	if err != nil {
		fail("lifecycle", err)
	}
	c.Logger.Info("workload", "kind", kind, "name", "events", "task_runs", c.TaskRuns)
	stop = c.profile(ctx, srv, kind, "events", res)
	res.Events, err = RunEvents(ctx, api, c.TaskRuns, c.EventConn, 180*time.Second)
	stop()
	if err != nil {
		fail("events", err)
	}
	c.Logger.Info("workload", "kind", kind, "name", "logs", "logs", c.Logs)
	stop = c.profile(ctx, srv, kind, "logs", res)
	res.Logs, err = RunLogs(ctx, api, c.Logs, c.LogBatch, c.Clients)
	stop()
	if err != nil {
		fail("logs", err)
	}
	for _, n := range c.SDKTasks {
		c.Logger.Info("workload", "kind", kind, "name", "sdk", "tasks", n)
		r, err := RunSDK(ctx, api, c.Python, filepath.Join(c.BenchDir, "sdk_flow.py"), filepath.Join(dir, fmt.Sprintf("sdk-%d", n)), n)
		if err != nil {
			fail(fmt.Sprintf("sdk %d tasks", n), err)
			continue
		}
		res.SDK = append(res.SDK, r)
	}
	return nil
}

// finish stops the server and collects what its log and files say.
func (c *Config) finish(srv *Server, res *ServerResult) {
	if err := srv.Stop(); err != nil {
		res.Errs.Add("stop "+string(srv.Spec.Kind), err.Error())
	}
	locked, errLines, sample := srv.LogProblems()
	res.LogLocked += locked
	res.LogErrors += errLines
	if res.LogSample == "" {
		res.LogSample = sample
	}
}

func (c *Config) readPhase(ctx context.Context, kind Kind, res *ServerResult) error {
	dir := filepath.Join(c.Work, string(kind)+"-read")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	res.DBSizeWork = DBSize(c.spec(kind, filepath.Join(c.Work, string(kind)+"-write")).DBFiles)
	spec := c.spec(kind, dir)
	// A first start creates the schema; the dataset goes in while the
	// server is stopped.
	srv, err := Start(ctx, spec, "server-migrate.log")
	if err != nil {
		return err
	}
	c.finish(srv, res)
	if kind == Prefect {
		if err := c.checkSeedEncoding(ctx, spec.DBFiles[0], filepath.Join(dir, "encoding-check.db")); err != nil {
			return err
		}
	}
	c.Logger.Info("seeding", "kind", kind, "flow_runs", c.Data.FlowRuns, "task_runs", c.Data.TaskRuns)
	began := time.Now()
	if err := c.seed(ctx, string(kind), spec.DBFiles[0]); err != nil {
		return err
	}
	res.SeedTime = time.Since(began)
	srv, err = Start(ctx, spec, "server.log")
	if err != nil {
		return err
	}
	defer func() {
		c.finish(srv, res)
		res.DBSizeData = DBSize(spec.DBFiles)
	}()
	res.Restart = srv.Startup
	api := NewAPI(srv.URL, 1, &res.Errs)
	defer api.Close()
	c.Logger.Info("workload", "kind", kind, "name", "reads", "iterations", c.ReadIters)
	stop := c.profile(ctx, srv, kind, "reads", res)
	res.Reads, err = RunReads(ctx, api, ReadQueries(c.Data), c.ReadWarm, c.ReadIters)
	stop()
	if s, serr := srv.Sample(); serr == nil {
		res.ReadRSS = s.RSSBytes
	}
	return err
}

func (c *Config) seed(ctx context.Context, kind, db string) error {
	args := []string{filepath.Join(c.BenchDir, "seed.py"), kind, db,
		fmt.Sprint(c.Data.Flows), fmt.Sprint(c.Data.FlowRuns), fmt.Sprint(c.Data.TaskRuns), fmt.Sprint(c.Data.Base.Unix())}
	out, err := exec.CommandContext(ctx, c.Python, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("seed %s: %w: %s", kind, err, tail(string(out), 2000))
	}
	return nil
}

// checkSeedEncoding writes sample rows through Prefect's own ORM into a
// copy of the freshly migrated Prefect database and fails if seed.py's
// encoding differs from what Prefect writes.
func (c *Config) checkSeedEncoding(ctx context.Context, db, scratch string) error {
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(db + suffix)
		if err != nil {
			if os.IsNotExist(err) && suffix != "" {
				continue
			}
			return err
		}
		if err := os.WriteFile(scratch+suffix, raw, 0o644); err != nil {
			return err
		}
	}
	args := []string{filepath.Join(c.BenchDir, "seed.py"), "check-prefect", scratch, "1", "0", "0", fmt.Sprint(c.Data.Base.Unix())}
	out, err := exec.CommandContext(ctx, c.Python, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("seed encoding check: %w: %s", err, strings.TrimSpace(tail(string(out), 1000)))
	}
	return nil
}

// profile records a Warden CPU profile of one workload through
// bench/cmd/wardenprof's control endpoint; a no-op otherwise.
func (c *Config) profile(ctx context.Context, srv *Server, kind Kind, name string, res *ServerResult) (stop func()) {
	if c.ProfileDir == "" || kind != Warden || srv.Spec.ProfileURL == "" {
		return func() {}
	}
	path := filepath.Join(c.ProfileDir, fmt.Sprintf("warden-%s-%s.pprof", c.Engine, name))
	ctl := NewAPI(srv.Spec.ProfileURL, 1, &Errors{})
	if err := ctl.Post(ctx, "/debug/bench/cpu/start", map[string]string{"path": path}, nil); err != nil {
		c.Logger.Warn("profile start failed", "err", err)
		return func() {}
	}
	return func() {
		if err := ctl.Post(ctx, "/debug/bench/cpu/stop", nil, nil); err != nil {
			c.Logger.Warn("profile stop failed", "err", err)
			return
		}
		res.Profiles = append(res.Profiles, path)
	}
}

// Failed reports whether the result breaks the zero-error rule, and why.
func (r *ServerResult) Failed() []string {
	var why []string
	if r.Failure != "" {
		why = append(why, r.Failure)
	}
	why = append(why, r.Errs.Lines()...)
	if r.LogLocked > 0 {
		why = append(why, fmt.Sprintf(`%d "database is locked" lines in the server log: %s`, r.LogLocked, r.LogSample))
	}
	return why
}

// WriteJSON writes v indented: the raw results beside the report.
func WriteJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}
