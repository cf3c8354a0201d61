package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
)

var recT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// taskRunEvent is a prefect.task-run.<name> event shaped like the SDK's
// (utilities/engine emit_task_run_state_change_event), n ms after recT0.
func taskRunEvent(runID uuid.UUID, flowRunID *uuid.UUID, typ, name string, n int) apitype.ReceivedEvent {
	ts := recT0.Add(time.Duration(n) * time.Millisecond)
	related := []apitype.Resource{{"prefect.resource.id": "prefect.tag.t", "prefect.resource.role": "tag"}}
	if flowRunID != nil {
		related = append(related, apitype.Resource{"prefect.resource.id": "prefect.flow-run." + flowRunID.String(),
			"prefect.resource.role": "flow-run", "prefect.resource.name": "fr"})
	}
	taskRun := map[string]any{"name": "add-" + runID.String()[:3], "task_key": "add-1", "dynamic_key": runID.String(),
		"empirical_policy": map[string]any{"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0, "retry_delay": 0},
		"tags":             []string{"t"}, "labels": map[string]any{}, "task_inputs": map[string]any{"x": []any{}},
		"run_count": 1, "flow_run_run_count": 1, "expected_start_time": recT0.Format(time.RFC3339Nano), "total_run_time": 0.0}
	if typ != "PENDING" {
		taskRun["start_time"] = recT0.Add(time.Millisecond).Format(time.RFC3339Nano)
	}
	if typ == "COMPLETED" {
		taskRun["end_time"] = ts.Format(time.RFC3339Nano)
		taskRun["total_run_time"] = 0.25
	}
	payload, _ := json.Marshal(map[string]any{
		"intended":        map[string]any{"from": nil, "to": typ},
		"initial_state":   nil,
		"validated_state": map[string]any{"type": typ, "name": name, "message": "", "state_details": map[string]any{}, "data": nil},
		"task_run":        taskRun,
	})
	return apitype.ReceivedEvent{Event: apitype.Event{
		ID: uuid.New(), Occurred: ts, Event: "prefect.task-run." + name,
		Resource: apitype.Resource{"prefect.resource.id": "prefect.task-run." + runID.String(), "prefect.resource.name": "add",
			"prefect.state-name": name, "prefect.state-type": typ, "prefect.orchestration": "client"},
		Related: related, Payload: payload,
	}, Received: ts}
}

func newFlowRun(t *testing.T, st storage.Store, id uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	f, _, err := st.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.New(), Name: "f-" + id.String(), Now: recT0})
	require.NoError(t, err)
	_, _, err = st.FlowRunCreate(ctx, &storage.FlowRunCreateParams{Run: apitype.FlowRun{ID: id, Name: "fr", FlowID: f.ID}, Now: recT0}, nil)
	require.NoError(t, err)
}

// recordingStore counts the batches written and can fail them.
type recordingStore struct {
	storage.TaskRunRecordStore
	mu      sync.Mutex
	batches []int
	fail    func(recs []storage.TaskRunRecord) error
}

func (r *recordingStore) TaskRunRecordMany(ctx context.Context, recs []storage.TaskRunRecord, now time.Time) ([]int, error) {
	r.mu.Lock()
	r.batches = append(r.batches, len(recs))
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(recs); err != nil {
			return nil, err
		}
	}
	return r.TaskRunRecordStore.TaskRunRecordMany(ctx, recs, now)
}

func (r *recordingStore) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.batches...)
}

func states(t *testing.T, st storage.Store, id uuid.UUID) []string {
	t.Helper()
	ss, err := st.TaskRunStates(context.Background(), id)
	require.NoError(t, err)
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestRecorderBatchesOutOfOrderAndDuplicates(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rs := &recordingStore{TaskRunRecordStore: st}
	svc, err := Start(st, Options{TaskRuns: rs, Recorder: RecorderOptions{BatchSize: 4, FlushInterval: time.Hour}})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close(ctx) })
	fr := uuid.New()
	newFlowRun(t, st, fr)
	a, b := uuid.New(), uuid.New()
	aDone := taskRunEvent(a, &fr, "COMPLETED", "Completed", 30)
	evs := []apitype.ReceivedEvent{
		aDone, // late events arrive after the final one
		taskRunEvent(a, &fr, "PENDING", "Pending", 10),
		{Event: apitype.Event{ID: uuid.New(), Occurred: recT0, Event: "prefect.flow-run.Running",
			Resource: apitype.Resource{"prefect.resource.id": "prefect.flow-run." + fr.String()}}}, // not ours
		taskRunEvent(a, &fr, "RUNNING", "Running", 20),
		taskRunEvent(b, &fr, "PENDING", "Pending", 15),
		aDone, // a resend
		taskRunEvent(b, &fr, "RUNNING", "Running", 25),
	}
	// A server-orchestrated task-run event (no prefect.orchestration=client)
	// is not the client's report: ignored, as Prefect does.
	server := taskRunEvent(uuid.New(), &fr, "RUNNING", "Running", 5)
	delete(server.Resource, "prefect.orchestration")
	evs = append(evs, server)
	require.NoError(t, svc.Bus().Publish(ctx, evs))
	require.NoError(t, svc.FlushTaskRuns(ctx))

	require.Equal(t, []int{4, 2}, rs.sizes(), "the batch size triggers a write; Flush writes the rest")
	tr, err := st.TaskRunGet(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "Completed", *tr.StateName)
	require.Equal(t, aDone.ID, *tr.StateID)
	require.Equal(t, recT0.Add(30*time.Millisecond), *tr.EndTime)
	require.Equal(t, []string{"t"}, tr.Tags)
	require.Equal(t, fr, *tr.FlowRunID)
	require.Equal(t, []string{"Pending", "Running", "Completed"}, states(t, st, a))
	require.Equal(t, []string{"Pending", "Running"}, states(t, st, b))
	n, err := st.TaskRunCount(ctx, &storage.RunQuery{})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}

func TestRecorderWritesEverythingPublishedBeforeClose(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	svc, err := Start(st, Options{TaskRuns: st, Recorder: RecorderOptions{BatchSize: 1000, FlushInterval: time.Hour}})
	require.NoError(t, err)
	fr := uuid.New()
	newFlowRun(t, st, fr)
	var evs []apitype.ReceivedEvent
	for i := range 50 {
		id := uuid.New()
		evs = append(evs, taskRunEvent(id, &fr, "PENDING", "Pending", i), taskRunEvent(id, &fr, "COMPLETED", "Completed", 100+i))
	}
	require.NoError(t, svc.Bus().Publish(ctx, evs))
	require.NoError(t, svc.Close(ctx), "no flush: Close writes what is buffered")
	n, err := st.TaskRunCount(ctx, &storage.RunQuery{})
	require.NoError(t, err)
	require.EqualValues(t, 50, n)
	n, err = st.TaskRunCount(ctx, &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{
		State: &apitype.FilterState{Type: &apitype.FilterStateType{Any: []apitype.StateType{apitype.StateTypeCompleted}}}}})
	require.NoError(t, err)
	require.EqualValues(t, 50, n)
}

func TestRecorderWaitsForAMissingFlowRun(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	svc, err := Start(st, Options{TaskRuns: st, Recorder: RecorderOptions{FlushInterval: time.Hour, Logger: logger}})
	require.NoError(t, err)
	fr, run := uuid.New(), uuid.New()
	require.NoError(t, svc.Bus().Publish(ctx, []apitype.ReceivedEvent{taskRunEvent(run, &fr, "PENDING", "Pending", 1)}))
	require.NoError(t, svc.FlushTaskRuns(ctx))
	_, err = st.TaskRunGet(ctx, run)
	require.ErrorIs(t, err, storage.ErrNotFound, "not written before its flow run exists")

	newFlowRun(t, st, fr)
	require.NoError(t, svc.FlushTaskRuns(ctx), "a flush retries the waiting records")
	require.Equal(t, []string{"Pending"}, states(t, st, run))

	// One that never gets its flow run is given up at Close, and logged.
	ghost := uuid.New()
	require.NoError(t, svc.Bus().Publish(ctx, []apitype.ReceivedEvent{taskRunEvent(uuid.New(), &ghost, "PENDING", "Pending", 1)}))
	require.NoError(t, svc.Close(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "task run event dropped: its flow run does not exist")
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestRecorderRetriesAndIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	fr := uuid.New()
	newFlowRun(t, st, fr)
	poison, good1, good2 := uuid.New(), uuid.New(), uuid.New()
	transient := 2
	rs := &recordingStore{TaskRunRecordStore: st, fail: func(recs []storage.TaskRunRecord) error {
		if transient > 0 { // only called from the recorder goroutine
			transient--
			return errors.New("database is locked")
		}
		for _, r := range recs {
			if r.Run.ID == poison {
				return errors.New("poisoned")
			}
		}
		return nil
	}}
	var logs bytes.Buffer
	var mu sync.Mutex
	svc, err := Start(st, Options{TaskRuns: rs, Recorder: RecorderOptions{FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))}})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close(ctx) })
	require.NoError(t, svc.Bus().Publish(ctx, []apitype.ReceivedEvent{taskRunEvent(good1, &fr, "PENDING", "Pending", 1)}))
	require.NoError(t, svc.FlushTaskRuns(ctx), "transient failures are retried")
	require.Equal(t, []string{"Pending"}, states(t, st, good1))

	bad := taskRunEvent(poison, &fr, "PENDING", "Pending", 2)
	require.NoError(t, svc.Bus().Publish(ctx, []apitype.ReceivedEvent{bad, taskRunEvent(good2, &fr, "PENDING", "Pending", 3)}))
	require.ErrorContains(t, svc.FlushTaskRuns(ctx), "poisoned")
	require.Equal(t, []string{"Pending"}, states(t, st, good2), "the rest of the batch is recorded")
	_, err = st.TaskRunGet(ctx, poison)
	require.ErrorIs(t, err, storage.ErrNotFound)
	mu.Lock()
	require.Contains(t, logs.String(), "event_id="+bad.ID.String())
	mu.Unlock()
}

func TestTaskRunRecordFromEvent(t *testing.T) {
	// An event as Prefect 3.9.1's SDK sent it (captured from prefect server).
	raw := `{"occurred":"2026-11-28T10:19:50.083841Z","event":"prefect.task-run.Completed",
	"resource":{"prefect.resource.id":"prefect.task-run.01a221ab-15b6-7c3e-b4f5-211c465020ef","prefect.resource.name":"add-c72",
	"prefect.run-count":"1","prefect.state-message":"","prefect.state-name":"Completed",
	"prefect.state-timestamp":"2026-11-28T10:19:50.083841+00:00","prefect.state-type":"COMPLETED","prefect.orchestration":"client"},
	"related":[{"prefect.resource.id":"prefect.flow-run.74da8b58-0370-44d3-9c78-a86eb7c68e4a","prefect.resource.role":"flow-run","prefect.resource.name":"unstoppable-emu"},
	{"prefect.resource.id":"prefect.flow.2d4f2739-fe2b-4deb-8cbd-3fa1abc7c376","prefect.resource.role":"flow","prefect.resource.name":"f"}],
	"payload":{"intended":{"from":"RUNNING","to":"COMPLETED"},
	"initial_state":{"type":"RUNNING","name":"Running","message":"","state_details":{}},
	"validated_state":{"type":"COMPLETED","name":"Completed","message":"","state_details":{"untrackable_result":true},"data":null},
	"task_run":{"name":"add-c72","task_key":"add-a2d8ba54","dynamic_key":"c72d75a0-c3c5-481a-8566-a15a5243c863",
	"empirical_policy":{"max_retries":0,"retry_delay_seconds":0.0,"retries":0,"retry_delay":0},"tags":[],"labels":{},
	"task_inputs":{"x":[],"y":[]},"run_count":1,"flow_run_run_count":1,"expected_start_time":"2026-11-28T10:19:50.071805Z",
	"start_time":"2026-11-28T10:19:50.073403Z","end_time":"2026-11-28T10:19:50.083841Z","total_run_time":0.010438}},
	"id":"01a221ab-15c3-7306-97a2-c2d9d22032ce","follows":"01a221ab-15b9-7998-8d60-f1c2a69e3284","received":"2026-11-28T10:19:50.229235Z"}`
	var e apitype.ReceivedEvent
	require.NoError(t, json.Unmarshal([]byte(raw), &e))
	rec, ok, err := TaskRunRecordFromEvent(&e)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "01a221ab-15b6-7c3e-b4f5-211c465020ef", rec.Run.ID.String())
	require.Equal(t, "74da8b58-0370-44d3-9c78-a86eb7c68e4a", rec.Run.FlowRunID.String())
	require.Equal(t, "add-c72", rec.Run.Name)
	require.Equal(t, "add-a2d8ba54", rec.Run.TaskKey)
	require.Equal(t, 1, rec.Run.RunCount)
	require.InDelta(t, 0.010438, rec.Run.TotalRunTime, 1e-9)
	require.Equal(t, time.Date(2026, 11, 28, 10, 19, 50, 83841000, time.UTC), rec.Run.EndTime.UTC())
	require.Equal(t, e.ID, rec.State.ID)
	require.Equal(t, e.Occurred, rec.State.Timestamp)
	require.Equal(t, apitype.StateTypeCompleted, rec.State.Type)
	require.Equal(t, "Completed", rec.State.Name)
	require.True(t, rec.State.StateDetails.UntrackableResult)
	require.Nil(t, rec.State.Data)
	require.Zero(t, rec.Fields&(storage.TaskRunFieldCacheKey|storage.TaskRunFieldNextScheduledStartTime|storage.TaskRunFieldTaskVersion))
	require.NotZero(t, rec.Fields&storage.TaskRunFieldEndTime)
	require.NotZero(t, rec.Fields&storage.TaskRunFieldLabels)

	for name, mutate := range map[string]func(e *apitype.ReceivedEvent){
		"bad resource id": func(e *apitype.ReceivedEvent) {
			e.Resource = apitype.Resource{"prefect.resource.id": "prefect.task-run.x", "prefect.orchestration": "client"}
		},
		"no task_key": func(e *apitype.ReceivedEvent) {
			e.Payload = []byte(`{"validated_state":{"type":"RUNNING"},"task_run":{"dynamic_key":"0"}}`)
		},
		"bad state type": func(e *apitype.ReceivedEvent) {
			e.Payload = []byte(`{"validated_state":{"type":"NOPE"},"task_run":{"task_key":"k","dynamic_key":"0"}}`)
		},
		"no state": func(e *apitype.ReceivedEvent) { e.Payload = []byte(`{"task_run":{"task_key":"k","dynamic_key":"0"}}`) },
		"bad field": func(e *apitype.ReceivedEvent) {
			e.Payload = []byte(`{"validated_state":{"type":"RUNNING"},"task_run":{"task_key":"k","dynamic_key":"0","run_count":"x"}}`)
		},
		"bad flow-run ref": func(e *apitype.ReceivedEvent) {
			e.Related = []apitype.Resource{{"prefect.resource.id": "nope", "prefect.resource.role": "flow-run"}}
		},
	} {
		bad := e
		bad.Resource = apitype.Resource{}
		for k, v := range e.Resource {
			bad.Resource[k] = v
		}
		mutate(&bad)
		_, _, err := TaskRunRecordFromEvent(&bad)
		require.Error(t, err, name)
	}
}

var _ storage.TaskRunRecordStore = (*sqlite.Store)(nil)
