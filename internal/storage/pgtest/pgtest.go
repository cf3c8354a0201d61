// Package pgtest gives tests a real PostgreSQL server: a throwaway cluster
// started once per test binary (or the server named by
// WARDEN_TEST_POSTGRES_URL), with a fresh empty database per test.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) { url := pgtest.URL(t); ... }
//
// When no PostgreSQL binaries are found, URL skips the test, unless
// WARDEN_TEST_POSTGRES=required, when it fails it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by this package.
const (
	EnvURL      = "WARDEN_TEST_POSTGRES_URL" // use this server instead of starting one
	EnvRequired = "WARDEN_TEST_POSTGRES"     // "required": missing binaries fail tests
)

// errNoBinaries marks the one setup failure that may skip instead of fail.
var errNoBinaries = errors.New("no PostgreSQL binaries (initdb, pg_ctl) found on PATH or in /usr/lib/postgresql/*/bin")

var (
	mainCalled atomic.Bool
	once       sync.Once
	server     *adminServer
	serverErr  error
	dbSeq      atomic.Int64
)

// adminServer is where test databases are created.
type adminServer struct {
	adminURL string     // a superuser URL to the "postgres" database
	external bool       // from WARDEN_TEST_POSTGRES_URL: drop what we create
	cluster  *cluster   // nil when external
	prefix   string     // database name prefix, unique per test binary
	mu       sync.Mutex // serialises CREATE DATABASE (template1 allows one user at a time)
}

// Main runs the tests and then stops the cluster, if one was started.
// Call it from TestMain; it does not return.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if server != nil && server.cluster != nil {
		if err := server.cluster.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
		}
	}
	os.Exit(code)
}

// URL returns the URL of a new, empty database for this test. The database
// is dropped at the end of the test on an external server; a throwaway
// cluster is deleted as a whole by Main.
func URL(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: call pgtest.Main(m) from TestMain so the cluster is stopped")
	}
	once.Do(func() { server, serverErr = start() })
	if serverErr != nil {
		if errors.Is(serverErr, errNoBinaries) && os.Getenv(EnvRequired) != "required" {
			t.Skipf("pgtest: %v (set %s=required to fail instead)", serverErr, EnvRequired)
		}
		t.Fatalf("pgtest: %v", serverErr)
	}
	name := fmt.Sprintf("%s_%d", server.prefix, dbSeq.Add(1))
	if err := server.exec(fmt.Sprintf(`CREATE DATABASE %s`, pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	if server.external {
		t.Cleanup(func() {
			if err := server.exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{name}.Sanitize())); err != nil {
				t.Errorf("pgtest: drop database: %v", err)
			}
		})
	}
	u, err := url.Parse(server.adminURL)
	if err != nil {
		t.Fatalf("pgtest: parse server url: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func start() (*adminServer, error) {
	prefix := fmt.Sprintf("warden_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if u := os.Getenv(EnvURL); u != "" {
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			return nil, fmt.Errorf("%s must be a postgres:// URL", EnvURL)
		}
		return &adminServer{adminURL: u, external: true, prefix: prefix}, nil
	}
	c, err := startCluster()
	if err != nil {
		return nil, err
	}
	return &adminServer{adminURL: c.url(), cluster: c, prefix: prefix}, nil
}

func (s *adminServer) exec(sql string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
