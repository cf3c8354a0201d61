// Command bench compares Warden with Prefect's own server, side by side on
// this machine: it starts each server in turn (Prefect first) on a free
// loopback port with a fresh database, runs the same workloads against both
// and writes bench/results/<date>[-quick].md. It exits 1 when any request
// failed, the server logged "database is locked", an event was lost or the
// servers answered the same read differently.
//
//	go run ./bench/cmd/bench --quick            # < 5 minutes on 2 cores
//	go run ./bench/cmd/bench                    # the full sizes
//	go run ./bench/cmd/bench --quick --profile  # plus Warden CPU profiles
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/warden-orchestration/warden/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	quick := flag.Bool("quick", false, "small sizes: finishes in under 5 minutes on 2 cores")
	engine := flag.String("engine", "sqlite", "database engine (sqlite)")
	out := flag.String("out", "bench/results", "directory for the Markdown report")
	work := flag.String("work", "", "scratch directory (default: a new temp dir, removed unless --keep)")
	keep := flag.Bool("keep", false, "keep the scratch directory (server logs, databases)")
	wardenBin := flag.String("warden", "", "a prebuilt warden binary (default: build ./cmd/warden, or ./bench/cmd/wardenprof with --profile; a prebuilt one must match)")
	profile := flag.Bool("profile", false, "build bench/cmd/wardenprof and record a Warden CPU profile per workload")
	venv := flag.String("venv", ".venv", "the virtualenv with the pinned prefect")
	clients := flag.Int("clients", 4, "concurrent clients of the lifecycle and log workloads")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	if *engine != "sqlite" {
		logger.Error("only the sqlite engine is benchmarked so far", "engine", *engine)
		return 2
	}
	root, err := os.Getwd()
	if err != nil {
		logger.Error("getwd", "err", err)
		return 2
	}
	if *work == "" {
		if *work, err = os.MkdirTemp("", "warden-bench-"); err != nil {
			logger.Error("temp dir", "err", err)
			return 2
		}
		if !*keep {
			defer os.RemoveAll(*work)
		}
	}
	began := time.Now()
	machine := bench.DescribeMachine()
	bin := *wardenBin
	if bin == "" {
		pkg := "./cmd/warden"
		if *profile {
			pkg = "./bench/cmd/wardenprof"
		}
		bin = filepath.Join(*work, "warden")
		logger.Info("building warden", "package", pkg)
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			logger.Error("build warden", "err", err, "output", string(out))
			return 2
		}
	}
	cfg := &bench.Config{
		Quick: *quick, Engine: *engine, Work: *work,
		Python: filepath.Join(root, *venv, "bin", "python"), Prefect: filepath.Join(root, *venv, "bin", "prefect"),
		Warden: bin, BenchDir: filepath.Join(root, "bench"), Logger: logger,
		Clients: *clients, EventConn: 4, LogBatch: 200, SDKTasks: []int{100, 1000},
		// Base puts the seeded runs in the 30 days up to now, as a live
		// server's would be; both servers get the same Base.
		Data: bench.Dataset{Flows: 20, Base: time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second)},
	}
	if *quick {
		cfg.Lifecycle, cfg.TaskRuns, cfg.Logs = 15*time.Second, 2000, 20000
		cfg.Data.FlowRuns, cfg.Data.TaskRuns = 10_000, 100_000
		cfg.ReadWarm, cfg.ReadIters = 3, 30
	} else {
		cfg.Lifecycle, cfg.TaskRuns, cfg.Logs = 60*time.Second, 10000, 200000
		cfg.Data.FlowRuns, cfg.Data.TaskRuns = 100_000, 1_000_000
		cfg.ReadWarm, cfg.ReadIters = 5, 100
	}
	if *profile {
		cfg.ProfileDir = filepath.Join(*work, "profiles")
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			logger.Error("profile dir", "err", err)
			return 2
		}
	}
	pr := cfg.RunServer(ctx, bench.Prefect)
	wr := cfg.RunServer(ctx, bench.Warden)
	rep := &bench.Report{Date: time.Now(), Quick: *quick, Machine: machine, Commit: commit(),
		Command: "go run ./bench/cmd/bench " + strings.Join(os.Args[1:], " "),
		Configs: []*bench.Config{cfg}, Pairs: [][2]*bench.ServerResult{{pr, wr}}}
	for i := range min(len(pr.Reads), len(wr.Reads)) {
		if pr.Reads[i].Fingerprint != wr.Reads[i].Fingerprint {
			rep.Mismatch = append(rep.Mismatch, fmt.Sprintf("read %q: Prefect answered %s, Warden %s (different rows)",
				pr.Reads[i].Query.Name, pr.Reads[i].Answer, wr.Reads[i].Answer))
		}
	}
	if *profile {
		rep.Profiles = profileTops(bin, wr.Profiles)
	}
	rep.Machine.LoadEnd = bench.DescribeMachine().LoadStart
	rep.Elapsed = time.Since(began)
	name := rep.Date.Format("2006-01-02")
	if *quick {
		name += "-quick"
	}
	if *profile {
		name += "-profile"
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		logger.Error("results dir", "err", err)
		return 2
	}
	path := filepath.Join(*out, name+".md")
	if err := os.WriteFile(path, []byte(rep.Markdown()), 0o644); err != nil {
		logger.Error("write report", "err", err)
		return 2
	}
	_ = bench.WriteJSON(filepath.Join(*work, name+".json"), rep)
	for _, w := range rep.Reference() {
		logger.Warn("prefect's server failed requests (reported, not a Warden failure)", "reason", w)
	}
	if why := rep.Failed(); len(why) > 0 {
		for _, w := range why {
			logger.Error("benchmark failed", "reason", w)
		}
		logger.Error("report written, marked FAILED", "path", path, "scratch", *work)
		return 1
	}
	logger.Info("report written", "path", path, "elapsed", rep.Elapsed.Round(time.Second))
	return 0
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += " + uncommitted changes"
	}
	return rev
}

// profileTops renders `go tool pprof -top` of each workload's profile.
func profileTops(bin string, profiles []string) string {
	var b strings.Builder
	for _, p := range slices.Sorted(slices.Values(profiles)) {
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", bin, p).CombinedOutput()
		fmt.Fprintf(&b, "### %s\n\n```\n", strings.TrimSuffix(filepath.Base(p), ".pprof"))
		if err != nil {
			fmt.Fprintf(&b, "pprof failed: %v\n", err)
		}
		b.Write(out)
		b.WriteString("```\n\n")
	}
	return b.String()
}
