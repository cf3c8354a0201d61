package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
)

// overdueRun stores a flow run SCHEDULED an hour ago in the database at
// home, as a server would have.
func overdueRun(t *testing.T, home string) (storage.Store, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	st, err := dbopen.Open(ctx, "sqlite:///"+filepath.Join(home, "warden.db"), dbopen.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	f, _, err := st.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.New(), Name: "f", Now: now})
	require.NoError(t, err)
	fr, _, err := st.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: apitype.FlowRun{ID: uuid.New(), Name: "r", FlowID: f.ID}, Now: now}, nil)
	require.NoError(t, err)
	due := now.Add(-time.Hour)
	state := &apitype.State{ID: uuid.New(), Type: apitype.StateTypeScheduled, Name: "Scheduled", Timestamp: due,
		StateDetails: apitype.StateDetails{ScheduledTime: &due}}
	err = st.FlowRunOrchestrate(ctx, fr.ID, func(ctx context.Context, tx storage.RunTx) error {
		return tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: fr.ID, State: state, Now: due, Columns: storage.RunColumns{
			StateType: &state.Type, StateName: &state.Name, StateTimestamp: &due, NextScheduledStartTime: &due,
			FlowPolicy: &apitype.FlowRunPolicy{},
		}})
	})
	require.NoError(t, err)
	return st, fr.ID
}

func TestServicesStartMarksLateRunsAndStops(t *testing.T) {
	app, home := settingsApp(t, "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS=0.05")
	st, id := overdueRun(t, home)
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	app.Stdout, app.Stderr = stdout, stderr
	cmd := NewRootCommand(app)
	cmd.SetArgs([]string{"server", "services", "start"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	require.Eventually(t, func() bool {
		fr, err := st.FlowRunGet(context.Background(), id)
		require.NoError(t, err)
		return fr.State.Name == apitype.StateNameLate
	}, 15*time.Second, 20*time.Millisecond, "stderr: %s", stderr)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "a signal is a clean shutdown")
	case <-time.After(15 * time.Second):
		t.Fatal("services did not stop")
	}
	require.Contains(t, stdout.String(), "late_runs")
	require.Contains(t, stdout.String(), "All services stopped.")
}

func TestServerStartNoServicesBanner(t *testing.T) {
	_, stdout, _, stop := startServer(t, nil, "--port", "0", "--no-services")
	require.NoError(t, stop())
	require.Contains(t, stdout.String(), "Services: off")
}

func TestServicesLs(t *testing.T) {
	app, _ := settingsApp(t, "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED=false")
	out, err := run(t, app, "server", "services", "ls", "-o", "json")
	require.NoError(t, err)
	var list []struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
		EnvVar  string `json:"environment_variable"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	enabled := map[string]bool{}
	for _, s := range list {
		enabled[s.Name] = s.Enabled
	}
	require.False(t, enabled["FailExpiredPauses"])
	require.True(t, enabled["MarkLateRuns"])

	out, err = run(t, app, "server", "services", "list")
	require.NoError(t, err)
	require.Contains(t, out, "x PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED")
	require.Contains(t, out, "\u2713 PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED")

	_, err = run(t, app, "server", "services", "ls", "-o", "yaml")
	require.ErrorContains(t, err, "only 'json'")
}
