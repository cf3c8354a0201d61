package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/coder/websocket"

	"github.com/warden-orchestration/warden/internal/taskqueue"
)

// statusProtocolViolation is the close code Prefect's scheduled-task socket
// uses for a client that breaks the protocol.
const statusProtocolViolation websocket.StatusCode = 4001

func (a *app) taskWorkerRoutes(route route) {
	route("POST", "/task_workers/filter", a.taskWorkerFilter)
}

func (a *app) taskWorkerSocketRoutes(ws func(path string, h http.HandlerFunc)) {
	ws("/task_runs/subscriptions/scheduled", a.scheduledTaskSubscription)
}

// taskWorkerFilter lists the connected task workers, all of them or those
// serving any of task_worker_filter.task_keys.
func (a *app) taskWorkerFilter(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Filter *struct {
			TaskKeys *[]string `json:"task_keys"`
		} `json:"task_worker_filter"`
	}
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	var keys []string
	if body.Filter != nil {
		if body.Filter.TaskKeys == nil {
			return errValidation(echoBody(raw), ValidationDetail{
				Loc: []any{"body", "task_worker_filter", "task_keys"}, Type: "missing", Msg: "Field required",
				Input: inputAt(raw, []any{"task_worker_filter"}),
			})
		}
		keys = *body.Filter.TaskKeys
	}
	writeJSON(w, http.StatusOK, a.machine.Tasks.Workers().List(keys, a.now().UTC()))
	return nil
}

// subscribeMessage is the task worker's first frame after the auth handshake.
type subscribeMessage struct {
	Type     string          `json:"type"`
	Keys     json.RawMessage `json:"keys"`
	ClientID json.RawMessage `json:"client_id"`
}

// scheduledTaskSubscription is /task_runs/subscriptions/scheduled: after the
// handshake the worker sends {"type":"subscribe","keys":[...],"client_id":...};
// the server then sends one task run at a time, each answered by
// {"type":"ack"} before the next. A run the worker did not acknowledge (the
// socket dropped, a "quit", anything else) goes back to the retry queue, so
// it is delivered again, to this worker or another.
func (a *app) scheduledTaskSubscription(w http.ResponseWriter, r *http.Request) {
	conn, ok := a.acceptSocket(w, r)
	if !ok {
		return
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	keys, clientID, ok := a.readSubscribe(ctx, conn)
	if !ok {
		return
	}
	tasks := a.machine.Tasks
	tasks.Workers().Connect(clientID, keys)
	defer tasks.Workers().Disconnect(clientID)
	a.logger.Info("task worker subscribed", slog.String("client_id", clientID), slog.Any("task_keys", keys))

	// One reader for the whole connection: it answers pings and notices a
	// closed socket while the handler waits for a run.
	frames := make(chan []byte)
	go func() {
		defer cancel()
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			select {
			case frames <- data:
			case <-ctx.Done():
				return
			}
		}
	}()
	go a.keepalive(ctx, conn)

	for {
		lease, err := tasks.Next(ctx, keys)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Error("task queue unavailable", slog.Any("err", err))
				conn.Close(websocket.StatusInternalError, "Task queue unavailable")
			}
			return
		}
		if !a.deliverTaskRun(ctx, conn, tasks, lease, frames) {
			return
		}
	}
}

// deliverTaskRun sends one run and waits for its acknowledgement; false ends
// the subscription (the run is back in the queue unless acknowledged).
func (a *app) deliverTaskRun(ctx context.Context, conn *websocket.Conn, tasks *taskqueue.Queue, lease *taskqueue.Lease, frames <-chan []byte) bool {
	payload, err := json.Marshal(a.presentTaskRun(lease.Run))
	if err != nil {
		tasks.Requeue(lease)
		a.logger.Error("encode task run", slog.Any("err", err))
		conn.Close(websocket.StatusInternalError, "Task queue unavailable")
		return false
	}
	wctx, wcancel := context.WithTimeout(ctx, a.writeTimeout())
	err = conn.Write(wctx, websocket.MessageText, payload)
	wcancel()
	if err != nil {
		tasks.Requeue(lease)
		return false
	}
	var reply struct {
		Type string `json:"type"`
	}
	select {
	case data := <-frames:
		_ = json.Unmarshal(data, &reply) // anything unparsable is not an ack
	case <-ctx.Done():
		tasks.Requeue(lease)
		return false
	}
	switch reply.Type {
	case "ack":
		tasks.Ack(lease)
		return true
	case "quit":
		// Prefect drops the run here; it was not taken, so Warden keeps it.
		tasks.Requeue(lease)
		conn.Close(websocket.StatusNormalClosure, "")
		return false
	default:
		tasks.Requeue(lease)
		conn.Close(statusProtocolViolation, "Protocol violation: expected 'ack' message")
		return false
	}
}

// readSubscribe reads and validates the subscribe frame, closing the socket
// with Prefect's 4001 reasons when it is wrong.
func (a *app) readSubscribe(ctx context.Context, conn *websocket.Conn) (keys []string, clientID string, ok bool) {
	rctx, rcancel := context.WithTimeout(ctx, filterMessageTimeout)
	_, data, err := conn.Read(rctx)
	rcancel()
	if err != nil {
		return nil, "", false // gone, or silent for a minute
	}
	violation := func(what string) ([]string, string, bool) {
		conn.Close(statusProtocolViolation, "Protocol violation: expected "+what)
		return nil, "", false
	}
	var msg subscribeMessage
	if json.Unmarshal(data, &msg) != nil || msg.Type != "subscribe" {
		return violation("'subscribe' message")
	}
	if json.Unmarshal(msg.Keys, &keys) != nil || len(keys) == 0 {
		return violation("'keys' in subscribe message")
	}
	if json.Unmarshal(msg.ClientID, &clientID) != nil || clientID == "" {
		return violation("'client_id' in subscribe message")
	}
	// A key listed twice would be served twice as often; once is enough.
	return dedupe(keys), clientID, true
}

func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
