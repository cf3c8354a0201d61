package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

type concurrencyStatusBody struct {
	Page         *int `json:"page"`
	Limit        *int `json:"limit"`
	FlowRunLimit *int `json:"flow_run_limit"`
}

func slotSummary(h *storage.SlotHolder, now time.Time) apitype.FlowRunSlotSummary {
	s := h.FlowRunSlotSummary
	if s.StateTimestamp != nil {
		d := now.Sub(*s.StateTimestamp).Seconds()
		s.TimeInCurrentState = &d
	}
	return s
}

// pyRepr quotes a string as Python's repr does (the f-string {x!r}).
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// poolConcurrencyStatus shows a pool's slot holders (PENDING and RUNNING
// runs, as the pool poll counts them) for one page of its queues, at most
// flow_run_limit runs per queue.
func (a *app) poolConcurrencyStatus(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var body concurrencyStatusBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	win, page, err := a.pageWindow(raw, body.Limit, body.Page)
	if err != nil {
		return err
	}
	perQueue := 10
	if body.FlowRunLimit != nil {
		perQueue = *body.FlowRunLimit
	}
	if err := checkMin(raw, "flow_run_limit", perQueue, 0); err != nil {
		return err
	}
	if err := checkMax(raw, "flow_run_limit", perQueue, 200); err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	pool, err := a.store.WorkPoolGetByName(ctx, name, now)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Work pool "+pyRepr(name)+" not found.")
	}
	if err != nil {
		return fmt.Errorf("read work pool: %w", err)
	}
	queues, err := a.store.WorkQueueList(ctx, &storage.WorkQueueListParams{PoolName: name, Now: now})
	if err != nil {
		return fmt.Errorf("list work queues: %w", err)
	}
	out := apitype.WorkPoolConcurrencyStatus{ConcurrencyLimit: pool.ConcurrencyLimit, Queues: []apitype.WorkQueueConcurrencyStatusDetail{},
		Count: int64(len(queues)), Limit: win.limit, Pages: pages(int64(len(queues)), win.limit), Page: page}
	total, err := a.store.WorkPoolActiveSlots(ctx, []uuid.UUID{pool.ID})
	if err != nil {
		return fmt.Errorf("count active slots: %w", err)
	}
	out.ActiveSlots = total[pool.ID]
	var pageQueues []apitype.WorkQueue
	if !win.empty() && win.offset < len(queues) {
		pageQueues = queues[win.offset:min(len(queues), win.offset+win.limit)]
	}
	ids := make([]uuid.UUID, len(pageQueues))
	for i, q := range pageQueues {
		ids[i] = q.ID
	}
	counts, err := a.store.WorkQueueActiveSlots(ctx, ids, storage.PoolSlotStates)
	if err != nil {
		return fmt.Errorf("count active slots: %w", err)
	}
	holders, _, err := a.store.WorkQueueSlotHolders(ctx, &storage.SlotHoldersParams{QueueIDs: ids, States: storage.PoolSlotStates})
	if err != nil {
		return fmt.Errorf("list slot holders: %w", err)
	}
	runs := map[uuid.UUID][]apitype.FlowRunSlotSummary{}
	for i := range holders {
		if q := *holders[i].WorkQueueID; len(runs[q]) < perQueue {
			runs[q] = append(runs[q], slotSummary(&holders[i], now))
		}
	}
	for _, q := range pageQueues {
		d := apitype.WorkQueueConcurrencyStatusDetail{QueueID: q.ID, QueueName: q.Name, ActiveSlots: counts[q.ID],
			ConcurrencyLimit: q.ConcurrencyLimit, FlowRuns: runs[q.ID], FlowRunCount: counts[q.ID]}
		if d.FlowRuns == nil {
			d.FlowRuns = []apitype.FlowRunSlotSummary{}
		}
		out.Queues = append(out.Queues, d)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// queueConcurrencyStatus pages through a queue's slot holders (PENDING,
// RUNNING and CANCELLING runs, as the queue poll counts them).
func (a *app) queueConcurrencyStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body concurrencyStatusBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	win, page, err := a.pageWindow(raw, body.Limit, body.Page)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	q, err := a.store.WorkQueueGet(ctx, id, now)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Work queue not found.")
	}
	if err != nil {
		return fmt.Errorf("read work queue: %w", err)
	}
	// Limit 0 means "no limit" to storage: an empty page still needs the total.
	p := &storage.SlotHoldersParams{QueueIDs: []uuid.UUID{id}, States: storage.QueueSlotStates, ByName: true,
		Limit: max(win.limit, 1), Offset: win.offset}
	holders, total, err := a.store.WorkQueueSlotHolders(ctx, p)
	if err != nil {
		return fmt.Errorf("list slot holders: %w", err)
	}
	out := apitype.WorkQueueConcurrencyStatus{ActiveSlots: total, ConcurrencyLimit: q.ConcurrencyLimit,
		FlowRuns: []apitype.FlowRunSlotSummary{}, Count: total, Limit: win.limit, Pages: pages(total, win.limit), Page: page}
	if !win.empty() {
		for i := range holders {
			out.FlowRuns = append(out.FlowRuns, slotSummary(&holders[i], now))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// publish sends server-made events to the bus; a failure is logged, as the
// request that caused them has already succeeded.
func (a *app) publish(ctx context.Context, events []apitype.ReceivedEvent) {
	if len(events) == 0 {
		return
	}
	if err := a.events.Bus().Publish(ctx, events); err != nil {
		a.logger.Warn("publish events", slog.Any("err", err))
	}
}

func serverEvent(name string, resource apitype.Resource, related []apitype.Resource, now time.Time) apitype.ReceivedEvent {
	ev := apitype.ReceivedEvent{Received: now}
	ev.ID = uuid.Must(uuid.NewV7())
	ev.Occurred, ev.Event.Event, ev.Resource, ev.Related = now, name, resource, related
	ev.Payload = json.RawMessage(`{}`)
	return ev
}

func poolResource(id uuid.UUID, name, typ string) apitype.Resource {
	return apitype.Resource{apitype.LabelResourceID: "prefect.work-pool." + id.String(), apitype.LabelResourceName: name,
		"prefect.work-pool.type": typ, apitype.LabelResourceRole: "work-pool"}
}

// queueReadyEvent is Prefect's work_queue_status_event for a queue a poll
// turned READY.
func queueReadyEvent(q *apitype.WorkQueue, poolType string, now time.Time) apitype.ReceivedEvent {
	return serverEvent("prefect.work-queue.ready", apitype.Resource{
		apitype.LabelResourceID: "prefect.work-queue." + q.ID.String(), apitype.LabelResourceName: q.Name,
		apitype.LabelResourceRole: "work-queue",
	}, []apitype.Resource{poolResource(q.WorkPoolID, q.WorkPoolName, poolType)}, now)
}

// deploymentReadyEvent is Prefect's deployment_status_event for READY.
func deploymentReadyEvent(d *storage.DeploymentRef, now time.Time) apitype.ReceivedEvent {
	related := []apitype.Resource{{apitype.LabelResourceID: "prefect.flow." + d.FlowID.String(),
		apitype.LabelResourceName: d.FlowName, apitype.LabelResourceRole: "flow"}}
	if q := d.WorkQueue; q != nil {
		related = append(related, apitype.Resource{apitype.LabelResourceID: "prefect.work-queue." + q.ID.String(),
			apitype.LabelResourceName: q.Name, apitype.LabelResourceRole: "work-queue"},
			poolResource(q.Pool.ID, q.Pool.Name, q.Pool.Type))
	}
	return serverEvent("prefect.deployment.ready", apitype.Resource{
		apitype.LabelResourceID: "prefect.deployment." + d.ID.String(), apitype.LabelResourceName: d.Name,
	}, related, now)
}

// countPoolSlots fills active_slots of the pools that have a concurrency limit.
func (a *app) countPoolSlots(ctx context.Context, pools []*apitype.WorkPool) error {
	var ids []uuid.UUID
	for _, p := range pools {
		if p.ConcurrencyLimit != nil {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	counts, err := a.store.WorkPoolActiveSlots(ctx, ids)
	if err != nil {
		return fmt.Errorf("count active slots: %w", err)
	}
	for _, p := range pools {
		if p.ConcurrencyLimit != nil {
			n := counts[p.ID]
			p.ActiveSlots = &n
		}
	}
	return nil
}

// countQueueSlots fills active_slots of the queues that have a concurrency
// limit, counting their runs in one of states.
func (a *app) countQueueSlots(ctx context.Context, queues []*apitype.WorkQueue, states []apitype.StateType) error {
	var ids []uuid.UUID
	for _, q := range queues {
		if q.ConcurrencyLimit != nil {
			ids = append(ids, q.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	counts, err := a.store.WorkQueueActiveSlots(ctx, ids, states)
	if err != nil {
		return fmt.Errorf("count active slots: %w", err)
	}
	for _, q := range queues {
		if q.ConcurrencyLimit != nil {
			n := counts[q.ID]
			q.ActiveSlots = &n
		}
	}
	return nil
}
