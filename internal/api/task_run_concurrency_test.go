package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Server-side tag concurrency: task runs orchestrated through set_state
// (background tasks) take and release slots on their tags' limits.

// createTaggedTaskRun creates a background task run (no flow run) in PENDING.
func (ts *testServer) createTaggedTaskRun(key string, tags ...string) apitype.TaskRun {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/task_runs/", map[string]any{"task_key": key, "dynamic_key": key, "tags": tags,
		"state": map[string]any{"type": "PENDING"}}), http.StatusCreated, "POST", "/task_runs/")
	var tr apitype.TaskRun
	require.NoError(ts.t, json.Unmarshal(raw, &tr))
	return tr
}

func (ts *testServer) limitV2(name string) apitype.ConcurrencyLimitV2 {
	ts.t.Helper()
	raw := ts.ok(ts.do("GET", "/api/v2/concurrency_limits/"+url.PathEscape(name), nil), http.StatusOK, "GET", "/v2/concurrency_limits/{id_or_name}")
	var l apitype.ConcurrencyLimitV2
	require.NoError(ts.t, json.Unmarshal(raw, &l))
	return l
}

func (ts *testServer) tagLimit(tag string) apitype.ConcurrencyLimit {
	ts.t.Helper()
	raw := ts.ok(ts.do("GET", "/api/concurrency_limits/tag/"+url.PathEscape(tag), nil), http.StatusOK, "GET", "/concurrency_limits/tag/{tag}")
	var l apitype.ConcurrencyLimit
	require.NoError(ts.t, json.Unmarshal(raw, &l))
	return l
}

func (ts *testServer) taskRunState(id uuid.UUID) apitype.StateType {
	ts.t.Helper()
	raw := ts.ok(ts.do("GET", "/api/task_runs/"+id.String(), nil), http.StatusOK, "GET", "/task_runs/{id}")
	var tr apitype.TaskRun
	require.NoError(ts.t, json.Unmarshal(raw, &tr))
	return *tr.StateType
}

// requireSlotWait asserts Prefect's WAIT for a full tag limit: the run
// stays PENDING and the client is told to retry after a short jittered delay.
func requireSlotWait(t *testing.T, res apitype.OrchestrationResult, reason string) {
	t.Helper()
	require.Equal(t, apitype.SetStateStatusWait, res.Status)
	require.Equal(t, apitype.StateTypePending, res.State.Type, "a WAIT answers the current state")
	require.Equal(t, reason, *res.Details.Reason)
	require.Positive(t, res.Details.DelaySeconds)
	require.LessOrEqual(t, res.Details.DelaySeconds, 60)
}

func TestTaskRunV2TagLimitSlots(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.ok(ts.do("POST", "/api/v2/concurrency_limits/", map[string]any{"name": "tag:db", "limit": 1}),
		http.StatusCreated, "POST", "/v2/concurrency_limits/")
	first, second := ts.createTaggedTaskRun("a", "db", "other"), ts.createTaggedTaskRun("b", "db")

	ts.advance(time.Second)
	res := ts.setState("task_runs", first.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, 1, ts.limitV2("tag:db").ActiveSlots, "the first run holds the slot")

	res = ts.setState("task_runs", second.ID, http.StatusOK, stateBody("RUNNING"))
	requireSlotWait(t, res, "Concurrency limit reached for tags: db")
	require.Equal(t, apitype.StateTypePending, ts.taskRunState(second.ID))
	require.Equal(t, 1, ts.limitV2("tag:db").ActiveSlots, "a waiting run takes no slot")

	ts.advance(time.Second)
	res = ts.setState("task_runs", first.ID, http.StatusCreated, stateBody("COMPLETED"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, 0, ts.limitV2("tag:db").ActiveSlots, "completing releases the slot")

	ts.advance(time.Second)
	res = ts.setState("task_runs", second.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, 1, ts.limitV2("tag:db").ActiveSlots)
	ts.advance(time.Second)
	ts.setState("task_runs", second.ID, http.StatusCreated, stateBody("FAILED"))
	require.Equal(t, 0, ts.limitV2("tag:db").ActiveSlots, "failing releases the slot too")
}

// TestTaskRunV1TagLimitSlots: the v1 API is an adapter over a "tag:" v2
// limit, whose lease holders are the v1 view's active_slots.
func TestTaskRunV1TagLimitSlots(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.ok(ts.do("POST", "/api/concurrency_limits/", map[string]any{"tag": "db", "concurrency_limit": 1}),
		http.StatusCreated, "POST", "/concurrency_limits/")
	first, second := ts.createTaggedTaskRun("a", "db"), ts.createTaggedTaskRun("b", "db")

	ts.advance(time.Second)
	res := ts.setState("task_runs", first.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, []uuid.UUID{first.ID}, ts.tagLimit("db").ActiveSlots)

	res = ts.setState("task_runs", second.ID, http.StatusOK, stateBody("RUNNING"))
	requireSlotWait(t, res, "Concurrency limit reached for tags: db")
	require.Equal(t, apitype.StateTypePending, ts.taskRunState(second.ID))

	ts.advance(time.Second)
	ts.setState("task_runs", first.ID, http.StatusCreated, stateBody("COMPLETED"))
	require.Empty(t, ts.tagLimit("db").ActiveSlots, "completing releases the slot")

	ts.advance(time.Second)
	res = ts.setState("task_runs", second.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, []uuid.UUID{second.ID}, ts.tagLimit("db").ActiveSlots)
}

// TestTaskRunLegacyTagLimitSlots: concurrency_limit rows (from before the v2
// adapter) are honoured where no v2 limit shadows them.
func TestTaskRunLegacyTagLimitSlots(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	_, err := ts.store.TagConcurrencyLimitCreate(context.Background(), &storage.TagConcurrencyLimitCreateParams{
		ID: uuid.New(), Tag: "db", Limit: 1, Now: ts.clock()})
	require.NoError(t, err)
	legacySlots := func() []uuid.UUID {
		l, err := ts.store.TagConcurrencyLimitGet(context.Background(), storage.LimitKey{Name: "db"})
		require.NoError(t, err)
		return l.ActiveSlots
	}
	first, second := ts.createTaggedTaskRun("a", "db"), ts.createTaggedTaskRun("b", "db")

	ts.advance(time.Second)
	res := ts.setState("task_runs", first.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, []uuid.UUID{first.ID}, legacySlots())

	res = ts.setState("task_runs", second.ID, http.StatusOK, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusWait, res.Status)
	require.Equal(t, "Concurrency limit for the db tag has been reached", *res.Details.Reason)
	require.Equal(t, 10, res.Details.DelaySeconds, "Prefect's tag_concurrency_slot_wait_seconds")
	require.Equal(t, apitype.StateTypePending, ts.taskRunState(second.ID))

	ts.advance(time.Second)
	ts.setState("task_runs", first.ID, http.StatusCreated, stateBody("COMPLETED"))
	require.Empty(t, legacySlots(), "completing releases the slot")

	ts.advance(time.Second)
	res = ts.setState("task_runs", second.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status)
	require.Equal(t, []uuid.UUID{second.ID}, legacySlots())
}

// TestTaskRunTagLimitEdges: a 0 limit aborts (it would deadlock), an
// inactive limit is ignored, and a forced exit from RUNNING still frees the
// slot.
func TestTaskRunTagLimitEdges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.ok(ts.do("POST", "/api/v2/concurrency_limits/", map[string]any{"name": "tag:zero", "limit": 0}),
		http.StatusCreated, "POST", "/v2/concurrency_limits/")
	ts.ok(ts.do("POST", "/api/v2/concurrency_limits/", map[string]any{"name": "tag:off", "limit": 1, "active": false}),
		http.StatusCreated, "POST", "/v2/concurrency_limits/")
	ts.ok(ts.do("POST", "/api/v2/concurrency_limits/", map[string]any{"name": "tag:db", "limit": 1}),
		http.StatusCreated, "POST", "/v2/concurrency_limits/")

	zero := ts.createTaggedTaskRun("z", "zero")
	ts.advance(time.Second)
	res := ts.setState("task_runs", zero.ID, http.StatusOK, stateBody("RUNNING"))
	require.Equal(t, apitype.SetStateStatusAbort, res.Status)
	require.Equal(t, `The concurrency limit on tag "zero" is 0 and will deadlock if the task tries to run again.`, *res.Details.Reason)

	off1, off2 := ts.createTaggedTaskRun("o1", "off"), ts.createTaggedTaskRun("o2", "off")
	ts.advance(time.Second)
	ts.setState("task_runs", off1.ID, http.StatusCreated, stateBody("RUNNING"))
	ts.setState("task_runs", off2.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, 0, ts.limitV2("tag:off").ActiveSlots, "an inactive limit takes no slots")

	db := ts.createTaggedTaskRun("d", "db")
	ts.advance(time.Second)
	ts.setState("task_runs", db.ID, http.StatusCreated, stateBody("RUNNING"))
	require.Equal(t, 1, ts.limitV2("tag:db").ActiveSlots)
	ts.advance(time.Second)
	body := stateBody("CANCELLED")
	body["force"] = true
	ts.setState("task_runs", db.ID, http.StatusCreated, body)
	require.Equal(t, 0, ts.limitV2("tag:db").ActiveSlots)
}

// TestFlowRunUnknownDeploymentNeverFails: deployments do not exist yet, so a
// run naming one is aborted at PENDING instead of reaching deployment slot
// effects; a client-supplied lease id is released or revoked as a no-op.
func TestFlowRunUnknownDeploymentNeverFails(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	flow := ts.createFlow("etl")
	fr := ts.createFlowRun(map[string]any{"flow_id": flow.ID, "deployment_id": uuid.New(),
		"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"scheduled_time": ts.clock()}}})
	ts.advance(time.Second)
	res := ts.setState("flow_runs", fr.ID, http.StatusOK, stateBody("PENDING"))
	require.Equal(t, apitype.SetStateStatusAbort, res.Status)
	require.Equal(t, "Deployment not found.", *res.Details.Reason)

	lease := map[string]any{"deployment_concurrency_lease_id": uuid.New()}
	ts.advance(time.Second)
	body := stateBody("PENDING", "state_details", lease)
	body["force"] = true
	ts.setState("flow_runs", fr.ID, http.StatusCreated, body)
	ts.advance(time.Second)
	res = ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("RUNNING", "state_details", lease))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status, "an old client's lease is revoked: absent, nothing to do")
	ts.advance(time.Second)
	res = ts.setState("flow_runs", fr.ID, http.StatusCreated, stateBody("COMPLETED"))
	require.Equal(t, apitype.SetStateStatusAccept, res.Status, "releasing a lease that does not exist frees nothing")
}
