// Package testserver runs the whole Warden HTTP application on an httptest
// server over a real, migrated SQLite file, for tests outside internal/api
// (the Go client's end-to-end tests, for one).
package testserver

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/warden-orchestration/warden/internal/api"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
)

// Server is a running test server.
type Server struct {
	URL    string // base URL, e.g. http://127.0.0.1:PORT
	APIURL string // URL + base path
	Config settings.Server
}

// Start runs the application with a fresh install's settings adjusted by mutate; it stops
// when the test ends.
func Start(t testing.TB, mutate func(*settings.Server)) *Server {
	t.Helper()
	// A fresh install's settings, derived by the real loader.
	home := t.TempDir()
	loaded, err := settings.Load(settings.LoadOptions{Environ: []string{"PREFECT_HOME=" + home}, Dir: home})
	if err != nil {
		t.Fatalf("load settings: %v", err)
	}
	cfg, err := loaded.Server()
	if err != nil {
		t.Fatalf("derive settings: %v", err)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx := context.Background()
	store, err := dbopen.Open(ctx, cfg.DatabaseURL, dbopen.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	h, err := api.NewHandler(api.Deps{Settings: cfg, Store: store, Logger: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		store.Close()
		t.Fatalf("build handler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		store.Close()
	})
	return &Server{URL: srv.URL, APIURL: srv.URL + cfg.BasePath, Config: cfg}
}
