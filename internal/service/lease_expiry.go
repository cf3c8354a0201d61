package service

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-orchestration/warden/internal/storage"
)

// Defaults mirror Prefect's server.services.repossessor settings.
const (
	LeaseExpiryIntervalDefault  = 15 * time.Second
	LeaseExpiryBatchSizeDefault = 100
	// leaseExpiryMaxBatches bounds one iteration, so a huge backlog cannot
	// hold the loop (the next tick continues).
	leaseExpiryMaxBatches = 50
)

// LeaseStore is what the lease-expiry service needs of storage.
type LeaseStore interface {
	ConcurrencyLeasesExpire(ctx context.Context, now time.Time, batch int, waits storage.ConcurrencyWaits) (int, error)
}

// LeaseExpiryConfig tunes LeaseExpiry; zero fields take the defaults.
type LeaseExpiryConfig struct {
	Interval  time.Duration // server.services.repossessor.loop_seconds
	BatchSize int
	Waits     storage.ConcurrencyWaits
}

// LeaseExpiry is Prefect's repossessor: it releases concurrency leases whose
// holders stopped renewing them, freeing their slots.
type LeaseExpiry struct {
	Base
	cfg   LeaseExpiryConfig
	store LeaseStore
}

// NewLeaseExpiry builds the service.
func NewLeaseExpiry(store LeaseStore, cfg LeaseExpiryConfig, base Base) *LeaseExpiry {
	base.init()
	cfg.Interval = cmp.Or(cfg.Interval, LeaseExpiryIntervalDefault)
	cfg.BatchSize = cmp.Or(cfg.BatchSize, LeaseExpiryBatchSizeDefault)
	return &LeaseExpiry{Base: base, cfg: cfg, store: store}
}

// Name implements Service.
func (s *LeaseExpiry) Name() string { return "lease_expiry" }

// Singleton implements Service. Replicas may overlap safely (the storage
// method never releases a lease twice), but one is enough.
func (s *LeaseExpiry) Singleton() bool { return true }

// Run implements Service.
func (s *LeaseExpiry) Run(ctx context.Context) error {
	return loop(ctx, &s.Base, s.Name(), s.cfg.Interval, func(ctx context.Context) error {
		_, err := s.runOnce(ctx)
		return err
	})
}

type leaseExpiryResult struct{ released int }

// runOnce releases every lease expired at Now, batch by batch.
func (s *LeaseExpiry) runOnce(ctx context.Context) (*leaseExpiryResult, error) {
	now := s.Now()
	res := &leaseExpiryResult{}
	for range leaseExpiryMaxBatches {
		n, err := s.store.ConcurrencyLeasesExpire(ctx, now, s.cfg.BatchSize, s.cfg.Waits)
		if err != nil {
			return res, fmt.Errorf("expire leases: %w", err)
		}
		res.released += n
		if n < s.cfg.BatchSize {
			break
		}
	}
	if res.released > 0 {
		s.Logger.Info("released expired concurrency leases", slog.Int("num_released", res.released))
	}
	return res, nil
}
