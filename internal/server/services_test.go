package server

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/service"
	"github.com/warden-orchestration/warden/internal/settings"
)

func loadServer(t *testing.T, env ...string) settings.Server {
	t.Helper()
	home := t.TempDir()
	s, err := settings.Load(settings.LoadOptions{Environ: append([]string{"PREFECT_HOME=" + home}, env...), Dir: home})
	require.NoError(t, err)
	cfg, err := s.Server()
	require.NoError(t, err)
	return cfg
}

func names(svcs []service.Service) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = s.Name()
	}
	return out
}

func TestNewRunsEnabledServicesUnlessNoServices(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	cfg := loadServer(t, "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED=false", "PREFECT_API_SERVICES_LATE_RUNS_LOOP_SECONDS=2.5")
	require.Equal(t, 2500*1e6, float64(cfg.LateRuns.Interval), "legacy alias and float seconds")

	srv, err := New(ctx, cfg, nil, logger, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"lease_expiry", "late_runs", "pause_expirations", "cancellation_cleanup",
		"scheduler", "recent_deployments_scheduler"}, names(srv.services),
		"foreman disabled by its setting")
	require.NoError(t, srv.store.Close())
	require.NoError(t, srv.events.Close(ctx))

	srv, err = New(ctx, cfg, nil, logger, Options{NoServices: true})
	require.NoError(t, err)
	require.Empty(t, srv.services, "--no-services: HTTP only")
	require.NoError(t, srv.events.Close(ctx))
	require.NoError(t, srv.store.Close())
}

func TestServicesListing(t *testing.T) {
	list := Services(loadServer(t, "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED=false"))
	byName := map[string]ServiceInfo{}
	for _, s := range list {
		byName[s.Name] = s
	}
	require.False(t, byName["MarkLateRuns"].Enabled)
	require.Equal(t, "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED", byName["MarkLateRuns"].EnvVar)
	require.True(t, byName["Foreman"].Enabled)
	require.True(t, byName["CancellationCleanup"].Enabled)
}

func TestRunServicesRefusesWhenAllDisabled(t *testing.T) {
	var env []string
	for _, s := range []string{"REPOSSESSOR", "LATE_RUNS", "PAUSE_EXPIRATIONS", "CANCELLATION_CLEANUP", "FOREMAN", "SCHEDULER"} {
		env = append(env, "PREFECT_SERVER_SERVICES_"+s+"_ENABLED=false")
	}
	err := RunServices(context.Background(), loadServer(t, env...), slog.New(slog.DiscardHandler), ServicesOptions{})
	require.ErrorIs(t, err, ErrNoServices)
}
