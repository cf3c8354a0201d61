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
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
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
	cfg     settings.Server
	logger  *slog.Logger
	store   storage.Store
	httpSrv *http.Server
}

// New opens the database (migrating it when configured) and builds the handler.
func New(ctx context.Context, cfg settings.Server, adminSettings map[string]any, logger *slog.Logger) (*Server, error) {
	store, err := dbopen.Open(ctx, cfg.DatabaseURL, dbopen.Options{Migrate: cfg.MigrateOnStart, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", dbopen.Redact(cfg.DatabaseURL), err)
	}
	handler, err := api.NewHandler(api.Deps{
		Settings:      cfg,
		Store:         store,
		Logger:        logger,
		Version:       Version,
		AdminSettings: adminSettings,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("build handler: %w", err)
	}
	idle := max(cfg.KeepaliveTimeout, minIdleTimeout)
	s := &Server{
		cfg:    cfg,
		logger: logger,
		store:  store,
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

// Listen binds the configured address. Split from Serve so callers can report
// the bound address (port 0 in tests) before serving.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.httpSrv.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.httpSrv.Addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully and closes
// the store. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.httpSrv.BaseContext = func(net.Listener) context.Context { return ctx }
	errCh := make(chan error, 1)
	go func() { errCh <- s.httpSrv.Serve(ln) }()

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
