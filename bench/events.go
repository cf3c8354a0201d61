package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// EventsResult is the event-ingest workload's outcome.
type EventsResult struct {
	TaskRuns    int
	Events      int
	Conns       int
	SendTime    time.Duration // until every socket closed cleanly
	EndToEnd    time.Duration // until every task run is recorded COMPLETED
	EventsPerS  float64       // Events / EndToEnd
	Recorded    int           // task runs COMPLETED at the end
	Lost        int           // TaskRuns - Recorded
	Unconfirmed bool          // the deadline passed before all were recorded
}

// taskRunEvent is a prefect.task-run.<State> event shaped as the SDK's
// emit_task_run_state_change_event builds it.
func taskRunEvent(taskRunID, flowRunID uuid.UUID, key string, n int, typ, name, from string, at, start time.Time) map[string]any {
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }
	taskRun := map[string]any{
		"name": key + "-" + fmt.Sprint(n), "task_key": key, "dynamic_key": fmt.Sprint(n),
		"flow_run_run_count": 1, "run_count": 0, "total_run_time": 0.0, "tags": []string{"bench"}, "labels": map[string]any{},
		"empirical_policy": map[string]any{"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0, "retry_delay": 0, "retry_jitter_factor": nil},
		"task_inputs":      map[string]any{"x": []any{}}, "expected_start_time": iso(start),
	}
	if typ != "PENDING" {
		taskRun["run_count"] = 1
		taskRun["start_time"] = iso(start.Add(time.Millisecond))
	}
	if typ == "COMPLETED" {
		taskRun["end_time"] = iso(at)
		taskRun["total_run_time"] = at.Sub(start).Seconds()
	}
	var initial any
	if from != "" {
		initial = map[string]any{"type": from, "name": strings.ToUpper(from[:1]) + strings.ToLower(from[1:]), "message": "", "state_details": map[string]any{}}
	}
	fromAny := any(nil)
	if from != "" {
		fromAny = from
	}
	return map[string]any{
		"id": uuid.NewString(), "occurred": iso(at), "event": "prefect.task-run." + name,
		"resource": map[string]string{
			"prefect.resource.id": "prefect.task-run." + taskRunID.String(), "prefect.resource.name": key + "-" + fmt.Sprint(n),
			"prefect.run-count": "1", "prefect.state-message": "", "prefect.state-name": name,
			"prefect.state-timestamp": iso(at), "prefect.state-type": typ, "prefect.orchestration": "client",
		},
		"related": []map[string]string{
			{"prefect.resource.id": "prefect.flow-run." + flowRunID.String(), "prefect.resource.role": "flow-run", "prefect.resource.name": "bench-events"},
			{"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"},
		},
		"payload": map[string]any{
			"intended":        map[string]any{"from": fromAny, "to": typ},
			"initial_state":   initial,
			"validated_state": map[string]any{"type": typ, "name": name, "message": "", "state_details": map[string]any{}, "data": nil},
			"task_run":        taskRun,
		},
		"follows": nil,
	}
}

// RunEvents sends taskRuns × (Pending, Running, Completed) events over conns
// websockets to /api/events/in and measures until the server's task-run
// recorder has written every run COMPLETED (polling /task_runs/count).
func RunEvents(ctx context.Context, api *API, taskRuns, conns int, deadline time.Duration) (*EventsResult, error) {
	var flow idOnly
	if err := api.Post(ctx, "/flows/", map[string]any{"name": "bench-events"}, &flow); err != nil {
		return nil, err
	}
	flowRuns := make([]uuid.UUID, conns)
	for i := range flowRuns {
		var fr idOnly
		if err := api.Post(ctx, "/flow_runs/", map[string]any{"flow_id": flow.ID, "name": fmt.Sprintf("events-%d", i)}, &fr); err != nil {
			return nil, err
		}
		flowRuns[i] = uuid.MustParse(fr.ID)
	}
	// Frames are built before the clock starts: the harness measures the
	// server, not JSON encoding.
	start := time.Now().UTC().Add(-time.Hour)
	frames := make([][][]byte, conns)
	for n := range taskRuns {
		c := n % conns
		id := uuid.New()
		base := start.Add(time.Duration(n) * time.Millisecond)
		for k, st := range [][3]string{{"PENDING", "Pending", ""}, {"RUNNING", "Running", "PENDING"}, {"COMPLETED", "Completed", "RUNNING"}} {
			raw, err := json.Marshal(taskRunEvent(id, flowRuns[c], "bench-task", n, st[0], st[1], st[2], base.Add(time.Duration(k+1)*100*time.Microsecond), base))
			if err != nil {
				return nil, err
			}
			frames[c] = append(frames[c], raw)
		}
	}
	res := &EventsResult{TaskRuns: taskRuns, Events: 3 * taskRuns, Conns: conns}
	wsURL := "ws" + strings.TrimPrefix(api.Base, "http") + "/events/in"
	began := time.Now()
	var wg sync.WaitGroup
	sockets := make([]*websocket.Conn, conns)
	errs := make([]error, conns)
	for c := range conns {
		wg.Go(func() { sockets[c], errs[c] = sendFrames(ctx, wsURL, frames[c]) })
	}
	wg.Wait()
	// The sockets stay open until the runs are recorded: a server that is
	// behind answers the close frame only after the frames before it, and
	// the close handshake's fixed timeout must not cut it off.
	defer func() {
		for _, s := range sockets {
			if s == nil {
				continue
			}
			if err := s.Close(websocket.StatusNormalClosure, ""); err != nil {
				api.Errs.Add("events/in close", err.Error())
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			api.Errs.Add("events/in websocket", err.Error())
			return nil, err
		}
	}
	res.SendTime = time.Since(began)
	ids := make([]string, len(flowRuns))
	for i, id := range flowRuns {
		ids[i] = id.String()
	}
	completed := map[string]any{"task_runs": map[string]any{"flow_run_id": map[string]any{"any_": ids},
		"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}}}}
	recorded, err := pollCount(ctx, api, completed, taskRuns, began.Add(deadline))
	if err != nil {
		return nil, err
	}
	res.EndToEnd = time.Since(began)
	res.Recorded = recorded
	res.Lost = taskRuns - recorded
	res.Unconfirmed = recorded < taskRuns
	res.EventsPerS = float64(res.Events) / res.EndToEnd.Seconds()
	// No duplicates either: every run exactly once, whatever its state.
	all := map[string]any{"task_runs": map[string]any{"flow_run_id": map[string]any{"any_": ids}}}
	var total int
	if err := api.Post(ctx, "/task_runs/count", all, &total); err != nil {
		return nil, err
	}
	if total != taskRuns {
		api.Errs.Add("events: task-run count", fmt.Sprintf("%d task runs recorded for %d sent", total, taskRuns))
	}
	if res.Lost > 0 {
		api.Errs.Add("events: lost", fmt.Sprintf("%d of %d task runs not recorded COMPLETED within %s", res.Lost, taskRuns, deadline))
	}
	return res, nil
}

// pollCount polls /task_runs/count with filter every 20 ms until it reaches
// want or the deadline passes; it returns the last count.
func pollCount(ctx context.Context, api *API, filter any, want int, deadline time.Time) (int, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		if err := api.Post(ctx, "/task_runs/count", filter, &n); err != nil {
			return 0, err
		}
		if n >= want || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-tick.C:
		}
	}
}

// sendFrames opens one socket the way Prefect clients do (subprotocol
// "prefect", then an auth frame) and sends frames; the caller closes it.
func sendFrames(ctx context.Context, url string, frames [][]byte) (*websocket.Conn, error) {
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"prefect"}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("auth: %w", err)
	}
	_, msg, err := conn.Read(ctx)
	if err != nil || !strings.Contains(string(msg), "auth_success") {
		conn.CloseNow()
		return nil, fmt.Errorf("auth answer %q: %v", msg, err)
	}
	// Nothing more comes from the server; CloseRead keeps the close
	// handshake working while nobody reads.
	conn.CloseRead(context.WithoutCancel(ctx))
	for _, f := range frames {
		if err := conn.Write(ctx, websocket.MessageText, f); err != nil {
			conn.CloseNow()
			return nil, fmt.Errorf("send: %w", err)
		}
	}
	return conn, nil
}
