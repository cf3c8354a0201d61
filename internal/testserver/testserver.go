// Package testserver runs the whole Warden HTTP application on an httptest
// server over a real, migrated SQLite file, for tests outside internal/api
// (the Go client's end-to-end tests, for one).
package testserver

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

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

// Defaults returns the settings of a fresh Prefect install, as Server() would
// derive them with nothing configured.
func Defaults() settings.Server {
	return settings.Server{
		Host:               "127.0.0.1",
		Port:               4200,
		BasePath:           "/api",
		CSRFExpiration:     time.Hour,
		CORSAllowedOrigins: []string{"*"},
		CORSAllowedMethods: []string{"*"},
		CORSAllowedHeaders: []string{"*"},
		DefaultLimit:       200,
		MaxRequestBody:     16 << 20,
		PrefectVersion:     "3.9.1",
		UIAPIURL:           "http://127.0.0.1:4200/api",
		UIServeBase:        "/",
		MigrateOnStart:     true,
	}
}

// Start runs the application with Defaults() adjusted by mutate; it stops
// when the test ends.
func Start(t testing.TB, mutate func(*settings.Server)) *Server {
	t.Helper()
	cfg := Defaults()
	cfg.DatabaseURL = "sqlite:///" + filepath.Join(t.TempDir(), "warden.db")
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
