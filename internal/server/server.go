// Package server is Warden's composition root: it opens the store, builds the
// HTTP handler and runs the http.Server until its context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/warden-orchestration/warden/internal/api"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/service"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
	"github.com/warden-orchestration/warden/internal/ui"
)

// Version is Warden's own version, sent as the X-Warden-Version header.
// Overridden at build time with -ldflags "-X .../internal/server.Version=...".
var Version = "0.1.0-dev"

// shutdownGrace bounds how long in-flight requests may run after SIGTERM.
const shutdownGrace = 10 * time.Second

// minIdleTimeout keeps idle connections open longer than the Prefect client's
// 25 s keep-alive expiry, so clients never reuse a connection we just closed.
const minIdleTimeout = 30 * time.Second

// Server is one running Warden process.
type Server struct {
	cfg      settings.Server
	logger   *slog.Logger
	store    storage.Store
	events   *events.Service
	services []service.Service
	httpSrv  *http.Server
}

// Options tune New.
type Options struct {
	// NoServices serves HTTP only (`server start --no-services`): no loop
	// services run; `server services start` runs them in another process.
	// The event pipeline (persister, task-run recorder) still runs: it is
	// how events posted to this process reach the database.
	NoServices bool
}

// New opens the database (migrating it when configured) and builds the handler.
func New(ctx context.Context, cfg settings.Server, adminSettings map[string]any, logger *slog.Logger, opts Options) (*Server, error) {
	webUI, err := newUI(cfg, logger)
	if err != nil {
		return nil, err
	}
	store, err := dbopen.Open(ctx, cfg.DatabaseURL, dbopen.Options{Migrate: cfg.MigrateOnStart, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", dbopen.Redact(cfg.DatabaseURL), err)
	}
	evs, err := events.Start(store, events.Options{
		Logger: logger,
		Limits: events.Limits{
			MaxNameLength: cfg.Events.MaxNameLength,
			MaxLabels:     cfg.Events.MaxLabels,
			MaxRelated:    cfg.Events.MaxRelated,
			MaxSizeBytes:  cfg.Events.MaxSizeBytes,
		},
		Stream: events.StreamOptions{MaxBackfill: cfg.Events.MaxBackfill, BackfillPageSize: cfg.Events.BackfillPageSize},
		// The recorder runs inside the pipeline: Close stops it after the bus
		// closes, so every task-run event received is recorded first.
		TaskRuns: taskRunRecorder(cfg, store),
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("start events: %w", err)
	}
	handler, err := api.NewHandler(api.Deps{
		Settings:      cfg,
		Store:         store,
		Logger:        logger,
		Version:       Version,
		AdminSettings: adminSettings,
		Events:        evs,
		UIMounted:     webUI != nil && ui.Available(),
	})
	if err != nil {
		evs.Close(ctx)
		store.Close()
		return nil, fmt.Errorf("build handler: %w", err)
	}
	if webUI != nil {
		handler = ui.Mount(handler, webUI, cfg.UIServeBase, apiBasePath(cfg.BasePath))
	}
	var services []service.Service
	if !opts.NoServices {
		services = buildServices(cfg, store, evs.Bus(), logger, nil)
	}
	idle := max(cfg.KeepaliveTimeout, minIdleTimeout)
	s := &Server{
		cfg:      cfg,
		logger:   logger,
		store:    store,
		events:   evs,
		services: services,
		httpSrv: &http.Server{
			Addr:              net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       idle,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
	return s, nil
}

// newUI is the web UI handler to mount at server.ui.serve_base, or nil when
// server.ui.enabled is off. A binary built with -tags noui still mounts a
// handler there, which answers 404 saying the UI was left out.
func newUI(cfg settings.Server, logger *slog.Logger) (http.Handler, error) {
	if !cfg.UIEnabled {
		return nil, nil
	}
	h, err := ui.New(cfg.UIServeBase)
	switch {
	case errors.Is(err, ui.ErrNoBundle):
		logger.Warn("this binary was built without the web UI (noui); only the API is served")
	case err != nil:
		return nil, fmt.Errorf("web UI: %w", err)
	}
	return h, nil
}

// apiBasePath is the API mount path as the api package resolves it.
func apiBasePath(p string) string {
	if p == "" || p == "/" {
		return "/api"
	}
	return p
}

// taskRunRecorder is the store the task-run recorder writes to, or nil when
// server.services.task_run_recorder.enabled is off.
func taskRunRecorder(cfg settings.Server, store storage.Store) storage.TaskRunRecordStore {
	if !cfg.TaskRunRecorderEnabled {
		return nil
	}
	return store
}

// Listen binds the configured address. Split from Serve so callers can report
// the bound address (port 0 in tests) before serving.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.httpSrv.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.httpSrv.Addr, err)
	}
	return ln, nil
}

// Serve serves on ln and runs the background services until ctx ends, then
// shuts down in dependency order: HTTP (in-flight requests finish), the
// services, the event pipeline (flushing what was received), the store. It
// returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.httpSrv.BaseContext = func(net.Listener) context.Context { return ctx }
	errCh := make(chan error, 1)
	go func() { errCh <- s.httpSrv.Serve(ln) }()
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	svcDone := make(chan error, 1)
	go func() { svcDone <- (&service.Runner{Logger: s.logger}).Run(svcCtx, s.services...) }()

	var serveErr error
	select {
	case serveErr = <-errCh:
	case <-ctx.Done():
		s.logger.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		if err := s.httpSrv.Shutdown(shutdownCtx); err != nil {
			serveErr = fmt.Errorf("shutdown: %w", err)
		}
		<-errCh
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	stopServices()
	if err := <-svcDone; err != nil && serveErr == nil {
		serveErr = fmt.Errorf("services: %w", err)
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := s.events.Close(closeCtx); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("close events: %w", err)
	}
	if err := s.store.Close(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("close database: %w", err)
	}
	return serveErr
}

// Exposed reports whether host is reachable from other machines, i.e. not a
// loopback address. Unresolvable names count as exposed: better a needless
// warning than a missing one.
func Exposed(host string) bool {
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	if ip == nil {
		addrs, err := net.LookupIP(host)
		if err != nil || len(addrs) == 0 {
			return true
		}
		for _, a := range addrs {
			if !a.IsLoopback() {
				return true
			}
		}
		return false
	}
	return !ip.IsLoopback()
}
