package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// Every accepted flow-run transition publishes Prefect's
// prefect.flow-run.<State> event: workers watch them for cancellation.
func TestFlowRunStateChangeEvents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl", "flow-tag")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "name": "nightly", "tags": []string{"run-tag"}})
	ts.advance(time.Second)
	running := ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING"))
	ts.advance(time.Second)
	ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("COMPLETED", "message", "all good"))

	filter := map[string]any{"filter": map[string]any{
		"occurred": map[string]any{"since": ts.clock().Add(-time.Hour), "until": ts.clock().Add(time.Hour)},
		"resource": map[string]any{"id": []string{"prefect.flow-run." + fr.ID.String()}},
		"order":    "ASC",
	}}
	var page apitype.EventPage
	require.Eventually(t, func() bool {
		raw := ts.ok(ts.do("POST", "/api/events/filter", filter), http.StatusOK, "POST", "/events/filter")
		require.NoError(t, json.Unmarshal(raw, &page))
		return len(page.Events) == 3
	}, 10*time.Second, 20*time.Millisecond, "events are persisted asynchronously")

	var names []string
	for _, e := range page.Events {
		names = append(names, e.Event.Event)
	}
	require.Equal(t, []string{"prefect.flow-run.Pending", "prefect.flow-run.Running", "prefect.flow-run.Completed"}, names)

	run := page.Events[1]
	require.Equal(t, running.State.ID, run.ID, "the event id is the state id")
	require.Equal(t, "1", run.Resource["prefect.run-count"])
	require.Equal(t, "RUNNING", run.Resource["prefect.state-type"])
	require.Equal(t, "nightly", run.Resource[apitype.LabelResourceName])
	require.NotNil(t, run.Follows, "a state change close to the previous one follows it")
	require.Equal(t, page.Events[0].ID, *run.Follows)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(run.Payload, &payload))
	require.Equal(t, map[string]any{"from": "PENDING", "to": "RUNNING"}, payload["intended"])
	require.Equal(t, map[string]any{"type": "RUNNING", "name": "Running"}, payload["validated_state"])

	roles := map[string]string{}
	for _, r := range run.Related {
		roles[r.ID()] = r.Role()
	}
	require.Equal(t, map[string]string{
		"prefect.flow." + flow.ID.String(): "flow",
		"prefect.tag.flow-tag":             "tag",
		"prefect.tag.run-tag":              "tag",
	}, roles)
	var done map[string]any
	require.NoError(t, json.Unmarshal(page.Events[2].Payload, &done))
	require.Equal(t, "all good", done["validated_state"].(map[string]any)["message"])
}
