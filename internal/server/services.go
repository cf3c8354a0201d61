package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/service"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
)

// ServiceInfo describes one background service for `server services ls`,
// in the shape of Prefect's listing.
type ServiceInfo struct {
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	EnvVar      string `json:"environment_variable"`
	Description string `json:"description"`
}

// Services lists Warden's background services and whether cfg enables
// them. The event persister and the /events/out distributor are not
// listed: they are the HTTP process's event ingestion, not loops.
func Services(cfg settings.Server) []ServiceInfo {
	return []ServiceInfo{
		{"CancellationCleanup", cfg.CancellationCleanup.Enabled, "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED",
			"Cancels the unfinished task and subflow runs of cancelled flow runs, and runs stuck cancelling"},
		{"FailExpiredPauses", cfg.PauseExpirations.Enabled, "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED",
			"Fails paused flow runs that were not resumed before their timeout"},
		{"Foreman", cfg.Foreman.Enabled, "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED",
			"Marks deployments not ready and announces work pools and queues that went offline"},
		{"MarkLateRuns", cfg.LateRuns.Enabled, "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED",
			"Marks scheduled flow runs that did not start on time as Late"},
		{"Repossessor", cfg.RepossessorEnabled, "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED",
			"Releases expired concurrency leases"},
		{"Scheduler", cfg.Scheduler.Enabled, "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED",
			"Creates flow runs from deployment schedules"},
		{"TaskRunRecorder", cfg.TaskRunRecorderEnabled, "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED",
			"Constructs task runs and states from client-emitted events (runs with the API)"},
	}
}

// buildServices builds the enabled loop services over store, publishing
// on bus. now is the clock (nil: time.Now).
func buildServices(cfg settings.Server, store storage.Store, bus events.Bus, logger *slog.Logger, now func() time.Time) []service.Service {
	if now == nil {
		now = time.Now
	}
	waits := storage.ConcurrencyWaits{MaxSlotWait: cfg.MaxConcurrencySlotWait, TagSlotWait: cfg.TagConcurrencySlotWait}
	machine := &runstate.Machine{Store: store, Events: bus, Logger: logger, Now: now, Waits: waits}
	base := service.Base{Logger: logger, Now: now}
	var out []service.Service
	if cfg.RepossessorEnabled {
		out = append(out, service.NewLeaseExpiry(store, service.LeaseExpiryConfig{Interval: cfg.RepossessorInterval, Waits: waits}, base))
	}
	if cfg.LateRuns.Enabled {
		out = append(out, service.NewLateRuns(machine, service.LateRunsConfig{Interval: cfg.LateRuns.Interval, After: cfg.LateRuns.After}, base))
	}
	if cfg.PauseExpirations.Enabled {
		out = append(out, service.NewPauseExpirations(machine, service.PauseExpirationsConfig{Interval: cfg.PauseExpirations.Interval}, base))
	}
	if cfg.CancellationCleanup.Enabled {
		out = append(out, service.NewCancellationCleanup(machine, service.CancellationCleanupConfig{
			Interval: cfg.CancellationCleanup.Interval, CancellingTimeout: cfg.CancellationCleanup.CancellingTimeout,
		}, base))
	}
	if cfg.Foreman.Enabled {
		out = append(out, service.NewForeman(store, bus, service.ForemanConfig{
			Interval: cfg.Foreman.Interval, DeploymentPollTimeout: cfg.Foreman.DeploymentPollTimeout,
		}, base))
	}
	if cfg.Scheduler.Enabled {
		out = append(out, service.NewScheduler(store, service.SchedulerOptions{
			Interval: cfg.Scheduler.Interval, RecentInterval: cfg.Scheduler.RecentDeploymentsInterval,
			DeploymentBatchSize: cfg.Scheduler.DeploymentBatchSize, InsertBatchSize: cfg.Scheduler.InsertBatchSize,
			MaxRuns: cfg.Scheduler.MaxRuns, MinRuns: cfg.Scheduler.MinRuns,
			MaxScheduledTime: cfg.Scheduler.MaxScheduledTime, MinScheduledTime: cfg.Scheduler.MinScheduledTime,
		}, base)...)
	}
	return out
}

// ServicesOptions tune RunServices.
type ServicesOptions struct {
	// Ready, when set, is called once the database is open and the services
	// are about to start, with their names.
	Ready func(names []string)
	// Now is the services' clock (nil: time.Now); tests pin it.
	Now func() time.Time
}

// ErrNoServices is returned by RunServices when every service is disabled.
var ErrNoServices = errors.New("no services are enabled")

// RunServices is `warden server services start`: the enabled background
// services alone, over the configured database, until ctx ends.
//
// The process has its own in-process event bus: events the services emit
// (state changes, not-ready statuses) are persisted to the database by this
// process's persister, so /events/filter and the UI's history see them, but
// live /events/out subscribers of a separate HTTP process do not receive
// them until cross-process fan-out exists.
func RunServices(ctx context.Context, cfg settings.Server, logger *slog.Logger, opts ServicesOptions) error {
	store, err := dbopen.Open(ctx, cfg.DatabaseURL, dbopen.Options{Migrate: cfg.MigrateOnStart, Logger: logger})
	if err != nil {
		return fmt.Errorf("open database %s: %w", dbopen.Redact(cfg.DatabaseURL), err)
	}
	// No task-run recorder here: the task-run events it consumes arrive at
	// the HTTP process.
	evs, err := events.Start(store, events.Options{Logger: logger})
	if err != nil {
		store.Close()
		return fmt.Errorf("start events: %w", err)
	}
	svcs := buildServices(cfg, store, evs.Bus(), logger, opts.Now)
	if len(svcs) == 0 {
		evs.Close(ctx)
		store.Close()
		return ErrNoServices
	}
	if opts.Ready != nil {
		names := make([]string, len(svcs))
		for i, s := range svcs {
			names[i] = s.Name()
		}
		opts.Ready(names)
	}
	runErr := (&service.Runner{Logger: logger}).Run(ctx, svcs...)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := evs.Close(closeCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("close events: %w", err)
	}
	if err := store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close database: %w", err)
	}
	return runErr
}
