// Package service runs Warden's background services (Prefect's "loop
// services"): each one does its work in runOnce and a shared loop ticks it.
//
// A Runner starts every service and stops them all when its context ends.
// Services marked Singleton must run on one replica only; today every
// process runs them (SQLite has one process, and the lease-expiry work is
// safe to run concurrently on PostgreSQL). The HA work adds leader election
// at the seam in Runner.Run.
package service

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Service is one background worker.
type Service interface {
	// Name identifies the service in logs.
	Name() string
	// Run works until ctx is done and then returns nil; any other return
	// is a failure the Runner reports.
	Run(ctx context.Context) error
	// Singleton reports that at most one replica should run the service.
	Singleton() bool
}

// Base is embedded by services: the clock and logger they use, so tests can
// pin time.
type Base struct {
	Logger *slog.Logger
	Now    func() time.Time
}

func (b *Base) init() {
	if b.Logger == nil {
		b.Logger = slog.New(slog.DiscardHandler)
	}
	if b.Now == nil {
		b.Now = time.Now
	}
}

// Runner runs services until its context ends.
type Runner struct {
	Logger *slog.Logger
}

// Run starts every service in its own goroutine and blocks until ctx is
// done and all of them have returned. It returns the failures joined.
func (r *Runner) Run(ctx context.Context, services ...Service) error {
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range services {
		// Seam for HA: singletons will wait here for leadership.
		wg.Go(func() {
			logger.Debug("service starting", slog.String("service", s.Name()))
			err := s.Run(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("service failed", slog.String("service", s.Name()), slog.Any("err", err))
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			logger.Debug("service stopped", slog.String("service", s.Name()))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loop calls once every interval (first call immediately) until ctx is
// done. A failing iteration is logged and the loop continues: a transient
// database error must not stop a service for good.
func loop(ctx context.Context, b *Base, name string, interval time.Duration, once func(context.Context) error) error {
	interval = cmp.Or(interval, time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := once(ctx); err != nil && ctx.Err() == nil {
			b.Logger.Error("service iteration failed", slog.String("service", name), slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
