package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// scheduledStarts lists a deployment's runs' expected start times (UTC, ascending).
func scheduledStarts(t *testing.T, ts *testServer, deploymentID uuid.UUID) []string {
	t.Helper()
	runs, err := ts.store.FlowRunList(context.Background(), &storage.RunListParams{
		RunQuery: storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{DeploymentID: &apitype.FilterOptionalID{Any: []uuid.UUID{deploymentID}}}},
		Sort:     apitype.FlowRunSortExpectedStartTimeAsc, Limit: 100,
	})
	require.NoError(t, err)
	out := []string{}
	for _, r := range runs {
		out = append(out, r.ExpectedStartTime.UTC().Format(time.RFC3339))
	}
	return out
}

func TestDeploymentScheduleRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	now := ts.clock()
	flow, _, err := ts.store.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.New(), Name: "f", Now: now})
	require.NoError(t, err)
	utc := "UTC"
	// Paused: the endpoint schedules anyway, as Prefect's does.
	d, _, err := ts.store.DeploymentUpsert(ctx, &storage.DeploymentUpsertParams{
		ID: uuid.New(), FlowID: flow.ID, Name: "d", Paused: true, Parameters: json.RawMessage(`{}`), Tags: []string{},
		EnforceParameterSchema: true, Now: now,
		Schedules: []storage.DeploymentScheduleParams{{ID: uuid.New(), Active: true, Parameters: json.RawMessage(`{}`),
			Schedule: apitype.Schedule{Interval: &apitype.IntervalSchedule{Interval: 3600,
				AnchorDate: time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), Timezone: &utc}}}},
	})
	require.NoError(t, err)
	path := "/api/deployments/" + d.ID.String() + "/schedule"

	body := ts.ok(ts.do("POST", path, nil), http.StatusOK, "POST", "/deployments/{id}/schedule")
	require.Equal(t, "null", string(body))
	want := []string{"2026-03-01T12:30:00Z", "2026-03-01T13:30:00Z", "2026-03-01T14:30:00Z"}
	require.Equal(t, want, scheduledStarts(t, ts, d.ID))

	// Again: idempotent.
	ts.ok(ts.do("POST", path, map[string]any{}), http.StatusOK, "POST", "/deployments/{id}/schedule")
	require.Equal(t, want, scheduledStarts(t, ts, d.ID))

	// A backfill: a window in the past, bounded by max_runs.
	ts.ok(ts.do("POST", path, map[string]any{"start_time": "2026-02-01T00:00:00Z", "end_time": "2026-02-02T00:00:00Z",
		"max_runs": 2, "min_runs": 5, "min_time": 0}), http.StatusOK, "POST", "/deployments/{id}/schedule")
	require.Equal(t, append([]string{"2026-02-01T00:30:00Z", "2026-02-01T01:30:00Z"}, want...), scheduledStarts(t, ts, d.ID))

	// min_time stretches the window beyond min_runs.
	ts.ok(ts.do("POST", path, map[string]any{"min_time": 5 * 3600.0}), http.StatusOK, "POST", "/deployments/{id}/schedule")
	require.Len(t, scheduledStarts(t, ts, d.ID), 2+6) // through 17:30, the first run at or after 17:00

	// An unknown deployment is not an error in Prefect either.
	ts.expect(ts.do("POST", "/api/deployments/"+uuid.NewString()+"/schedule", nil), http.StatusOK, `null`)
	ts.expect(ts.do("POST", "/api/deployments/not-a-uuid/schedule", nil), http.StatusNotFound, `{"detail":"Not Found"}`)

	r := ts.do("POST", path, map[string]any{"min_runs": "many"})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	r = ts.do("POST", path, map[string]any{"start_time": "yesterday"})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	require.Len(t, scheduledStarts(t, ts, d.ID), 8)
}
