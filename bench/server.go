package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kind names a server implementation.
type Kind string

// The two servers compared.
const (
	Prefect Kind = "prefect"
	Warden  Kind = "warden"
)

// ServerSpec says how to start one server.
type ServerSpec struct {
	Kind    Kind
	Command []string // executable and arguments before --host/--port
	// DatabaseURL is the server's connection URL (SQLAlchemy form, which
	// both servers accept).
	DatabaseURL string
	// DBFiles are the on-disk files whose size is the database size (SQLite).
	DBFiles []string
	Home    string   // PREFECT_HOME, HOME and working directory
	Env     []string // extra environment
	// ProfileURL is bench/cmd/wardenprof's profiling control address.
	ProfileURL string
}

// Server is one running server process.
type Server struct {
	Spec    ServerSpec
	Port    int
	URL     string // http://127.0.0.1:port/api
	Startup time.Duration
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startTimeout bounds start-up; Prefect's first start migrates its schema,
// which takes a while on a loaded machine.
const startTimeout = 120 * time.Second

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// baseEnv is a from-scratch environment so nothing of the caller's PREFECT_*
// or WARDEN_* settings leaks into a server or an SDK client.
func baseEnv(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{
		"PATH=" + path, "HOME=" + home, "PREFECT_HOME=" + home, "LANG=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1", "NO_COLOR=1",
	}
}

// Start launches the server and waits for the first healthy /api/health;
// Startup is the time from exec to that answer. logName names the log file
// in Home, so each start of a run keeps its own log.
func Start(ctx context.Context, spec ServerSpec, logName string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Spec: spec, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d/api", port),
		logPath: filepath.Join(spec.Home, logName), done: make(chan struct{})}
	log, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	args := append(spec.Command[1:], "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	s.cmd = exec.Command(spec.Command[0], args...)
	s.cmd.Dir = spec.Home
	s.cmd.Env = append(append(baseEnv(spec.Home), "PREFECT_SERVER_DATABASE_CONNECTION_URL="+spec.DatabaseURL), spec.Env...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	// Its own process group, so Stop can signal exactly the tree we started.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Kind, err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	if err := s.waitHealthy(ctx, began); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context, began time.Time) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := began.Add(startTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/health", nil)
		if resp, err := hc.Do(req); err == nil {
			body := make([]byte, 16)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.TrimSpace(string(body[:n])) == "true" {
				s.Startup = time.Since(began)
				hc.CloseIdleConnections()
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before becoming healthy (%v); log tail:\n%s", s.Spec.Kind, s.waitErr, s.LogTail(40))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s; log tail:\n%s", s.Spec.Kind, startTimeout, s.LogTail(40))
		}
	}
}

// Pid is the root process of the server tree.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Sample measures the server's process tree.
func (s *Server) Sample() (ProcSample, error) { return SampleTree(s.Pid()) }

// Stop sends SIGTERM to the server's process group and waits; after 30 s it
// kills the group.
func (s *Server) Stop() error {
	_ = syscall.Kill(-s.Pid(), syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.kill()
		return fmt.Errorf("%s did not stop within 30s of SIGTERM", s.Spec.Kind)
	}
	var exit *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &exit) {
		return s.waitErr
	}
	return nil
}

func (s *Server) kill() {
	_ = syscall.Kill(-s.Pid(), syscall.SIGKILL)
	<-s.done
}

// LogTail is the last n lines of the server log.
func (s *Server) LogTail(n int) string {
	raw, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// LogProblems counts the log lines that mean lost writes: "database is
// locked" (SQLite contention) and tracebacks/errors, returning a sample.
func (s *Server) LogProblems() (locked, errorLines int, sample string) {
	f, err := os.Open(s.logPath)
	if err != nil {
		return 0, 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		low := strings.ToLower(line)
		if strings.Contains(low, "database is locked") {
			locked++
			if sample == "" {
				sample = line
			}
		}
		if strings.Contains(line, "Traceback (most recent call last)") || strings.Contains(line, "level=ERROR") ||
			strings.Contains(line, "| ERROR ") || strings.HasPrefix(line, "ERROR:") {
			errorLines++
			if sample == "" {
				sample = line
			}
		}
	}
	return locked, errorLines, sample
}

// DBSize is the on-disk size of the database files (SQLite: the file, its
// WAL and shared memory).
func DBSize(files []string) int64 {
	var total int64
	for _, f := range files {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if st, err := os.Stat(f + suffix); err == nil {
				total += st.Size()
			}
		}
	}
	return total
}
