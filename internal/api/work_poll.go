package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Worker and runner polls. A poll only reads: workers claim a run by
// proposing PENDING through set_state, and orchestration (under the run's
// row lock) accepts the first proposal and aborts the others, so two
// workers that got the same run never both start it.
func (a *app) workPollRoutes(route route) {
	route("POST", "/work_pools/{name}/get_scheduled_flow_runs", a.poolScheduledRuns)
	route("POST", "/work_pools/{name}/concurrency_status", a.poolConcurrencyStatus)
	route("POST", "/work_queues/{id}/get_runs", a.queueScheduledRuns)
	route("POST", "/work_queues/{id}/concurrency_status", a.queueConcurrencyStatus)
	route("POST", "/deployments/get_scheduled_flow_runs", a.deploymentScheduledRuns)
}

// bodyTime decodes an optional datetime body field. The SDK sends
// str(datetime) ("2026-01-02 03:04:05.123456+00:00"), which pydantic
// accepts alongside RFC 3339; naive times are UTC.
func bodyTime(raw []byte, field string, v json.RawMessage) (*time.Time, error) {
	if !present(v) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", field}, Type: "datetime_type",
			Msg: "Input should be a valid datetime", Input: inputAt(raw, []any{field})})
	}
	t, ok := parseTimestamp(s)
	if !ok {
		return nil, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", field}, Type: "datetime_from_date_parsing",
			Msg: "Input should be a valid datetime or date", Input: s})
	}
	return &t, nil
}

type poolRunsBody struct {
	WorkQueueNames  []string        `json:"work_queue_names"`
	ScheduledBefore json.RawMessage `json:"scheduled_before"`
	ScheduledAfter  json.RawMessage `json:"scheduled_after"`
	Limit           *int            `json:"limit"`
}

// poolScheduledRuns is a worker's poll. It marks the polled queues and
// their deployments polled; it is not a worker heartbeat.
func (a *app) poolScheduledRuns(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var body poolRunsBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	before, err := bodyTime(raw, "scheduled_before", body.ScheduledBefore)
	if err != nil {
		return err
	}
	after, err := bodyTime(raw, "scheduled_after", body.ScheduledAfter)
	if err != nil {
		return err
	}
	limit, err := a.checkLimit(body.Limit)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	pool, err := a.store.WorkPoolGetByName(ctx, name, now)
	if errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("read work pool: %w", err)
	}
	p := &storage.WorkPoolRunsParams{PoolID: pool.ID, ScheduledBefore: before, ScheduledAfter: after, Limit: limit}
	var queues []apitype.WorkQueue
	if len(body.WorkQueueNames) == 0 {
		if queues, err = a.store.WorkQueueList(ctx, &storage.WorkQueueListParams{PoolName: name, Now: now}); err != nil {
			return fmt.Errorf("list work queues: %w", err)
		}
	} else {
		p.QueueIDs = make([]uuid.UUID, 0, len(body.WorkQueueNames))
		for _, qn := range body.WorkQueueNames {
			q, err := a.store.WorkQueueGetByName(ctx, name, qn, now)
			if errors.Is(err, storage.ErrNotFound) {
				return errPoolQueueNotFound(name, qn)
			}
			if err != nil {
				return fmt.Errorf("read work queue: %w", err)
			}
			queues = append(queues, *q)
			p.QueueIDs = append(p.QueueIDs, q.ID)
		}
	}
	runs, err := a.store.WorkPoolScheduledRuns(ctx, p)
	if err != nil {
		return fmt.Errorf("read scheduled runs: %w", err)
	}
	a.recordPoll(ctx, pool.Type, queues, now)
	ptrs := make([]*apitype.FlowRun, len(runs))
	for i := range runs {
		ptrs[i] = a.presentFlowRun(&runs[i].FlowRun)
	}
	a.fillWorkPools(ctx, ptrs...)
	writeJSON(w, http.StatusOK, runs)
	return nil
}

type queueRunsBody struct {
	ScheduledBefore json.RawMessage `json:"scheduled_before"`
	Limit           *int            `json:"limit"`
}

// errQueueIDNotFound is Prefect's ObjectNotFoundError answer for a queue id.
func errQueueIDNotFound(id uuid.UUID) *Error {
	return &Error{Status: http.StatusNotFound, Body: map[string]any{
		"exception_message": fmt.Sprintf("Work queue with id %s not found.", id)}}
}

// queueScheduledRuns is the legacy poll of one queue (agents, the UI).
func (a *app) queueScheduledRuns(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body queueRunsBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	before, err := bodyTime(raw, "scheduled_before", body.ScheduledBefore)
	if err != nil {
		return err
	}
	limit, err := a.checkLimit(body.Limit)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	q, err := a.store.WorkQueueGet(ctx, id, now)
	if errors.Is(err, storage.ErrNotFound) {
		return errQueueIDNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("read work queue: %w", err)
	}
	var runs []apitype.FlowRun
	if q.Filter != nil {
		runs, err = a.taggedQueueRuns(ctx, q, before, limit)
	} else {
		runs, err = a.store.WorkQueueScheduledRuns(ctx, id, before, limit)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return errQueueIDNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("read scheduled runs: %w", err)
	}
	// The UI reads this to show what is queued; that is not a poll.
	if !headerTrue(r.Header.Get("X-Prefect-Ui")) {
		poolType := ""
		if pool, err := a.store.WorkPoolGetByName(ctx, q.WorkPoolName, now); err == nil {
			poolType = pool.Type
		}
		a.recordPoll(ctx, poolType, []apitype.WorkQueue{*q}, now)
	}
	writeJSON(w, http.StatusOK, a.presentFlowRuns(ctx, runs))
	return nil
}

// taggedQueueRuns serves a deprecated tag-based queue (one with a filter):
// scheduled runs of deployments carrying all its tags (and among its
// deployments, when listed), within its limit on PENDING and RUNNING ones.
func (a *app) taggedQueueRuns(ctx context.Context, q *apitype.WorkQueue, before *time.Time, limit int) ([]apitype.FlowRun, error) {
	if q.IsPaused {
		return []apitype.FlowRun{}, nil
	}
	filter := func(states ...apitype.StateType) *apitype.FlowRunFilter {
		f := &apitype.FlowRunFilter{
			DeploymentID: &apitype.FilterOptionalID{Any: q.Filter.DeploymentIDs, IsNull: new(bool)},
			State:        &apitype.FilterState{Type: &apitype.FilterStateType{Any: states}},
		}
		if q.Filter.Tags != nil {
			f.Tags = &apitype.FlowRunFilterTags{All: q.Filter.Tags}
		}
		return f
	}
	if q.ConcurrencyLimit != nil {
		busy, err := a.store.FlowRunCount(ctx, &storage.RunQuery{FlowRuns: filter(storage.PoolSlotStates...)})
		if err != nil {
			return nil, err
		}
		limit = min(limit, int(max(0, *q.ConcurrencyLimit-busy)))
	}
	if limit == 0 {
		return []apitype.FlowRun{}, nil
	}
	f := filter(apitype.StateTypeScheduled)
	if before != nil {
		f.NextScheduledStartTime = &apitype.FilterTime{Before: before}
	}
	return a.store.FlowRunList(ctx, &storage.RunListParams{RunQuery: storage.RunQuery{FlowRuns: f},
		Sort: apitype.FlowRunSortNextScheduledStartTimeAsc, Limit: limit})
}

// headerTrue parses a boolean header as FastAPI does.
func headerTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "on":
		return true
	}
	b, _ := strconv.ParseBool(v)
	return b
}

type deploymentRunsBody struct {
	DeploymentIDs   *[]uuid.UUID    `json:"deployment_ids"`
	ScheduledBefore json.RawMessage `json:"scheduled_before"`
	Limit           *int            `json:"limit"`
}

// deploymentScheduledRuns is a runner's poll (flow.serve()).
func (a *app) deploymentScheduledRuns(w http.ResponseWriter, r *http.Request) error {
	var body deploymentRunsBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.DeploymentIDs == nil {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "deployment_ids"}, Type: "missing",
			Msg: "Field required", Input: echoBody(raw)})
	}
	before, err := bodyTime(raw, "scheduled_before", body.ScheduledBefore)
	if err != nil {
		return err
	}
	limit, err := a.checkLimit(body.Limit)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), a.now().UTC()
	runs, err := a.store.DeploymentScheduledRuns(ctx, *body.DeploymentIDs, before, limit)
	if err != nil {
		return fmt.Errorf("read scheduled runs: %w", err)
	}
	a.markDeploymentsPolled(ctx, *body.DeploymentIDs, now)
	writeJSON(w, http.StatusOK, a.presentFlowRuns(ctx, runs))
	return nil
}

// recordPoll stamps the polled queues and their deployments, announcing
// those that turn READY. Prefect does this after answering, in a
// background task, so a failure here is logged and the poll still answers.
func (a *app) recordPoll(ctx context.Context, poolType string, queues []apitype.WorkQueue, now time.Time) {
	if len(queues) == 0 {
		return
	}
	ids := make([]uuid.UUID, len(queues))
	for i, q := range queues {
		ids[i] = q.ID
	}
	deployments, err := a.store.WorkQueuesMarkPolled(ctx, ids, now)
	if err != nil {
		a.logger.Warn("record work queue poll", slog.Any("err", err))
		return
	}
	var events []apitype.ReceivedEvent
	for _, q := range queues {
		// Statuses were computed before this poll: NOT_READY ones are now READY.
		if q.Status == apitype.WorkQueueStatusNotReady {
			events = append(events, queueReadyEvent(&q, poolType, now))
		}
	}
	a.publish(ctx, events)
	a.markDeploymentsPolled(ctx, deployments, now)
}

func (a *app) markDeploymentsPolled(ctx context.Context, ids []uuid.UUID, now time.Time) {
	if len(ids) == 0 {
		return
	}
	ready, err := a.store.DeploymentsMarkPolled(ctx, ids, now)
	if err != nil {
		a.logger.Warn("record deployment poll", slog.Any("err", err))
		return
	}
	if len(ready) == 0 {
		return
	}
	refs, err := a.store.DeploymentRefs(ctx, ready)
	if err != nil {
		a.logger.Warn("describe deployments", slog.Any("err", err))
		return
	}
	events := make([]apitype.ReceivedEvent, 0, len(refs))
	for i := range refs {
		events = append(events, deploymentReadyEvent(&refs[i], now))
	}
	a.publish(ctx, events)
}
