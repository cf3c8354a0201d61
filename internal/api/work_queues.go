package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

var errWorkQueueNotFound = errDetail(http.StatusNotFound, "work queue not found")

func errPoolQueueNotFound(pool, name string) *Error {
	return errDetail(http.StatusNotFound, "Work pool queue '"+pool+"/"+name+"' not found.")
}

func (a *app) workQueueRoutes(route route) {
	route("POST", "/work_pools/{work_pool_name}/queues", a.poolQueueCreate)
	route("POST", "/work_pools/{work_pool_name}/queues/filter", a.poolQueueFilter)
	route("GET", "/work_pools/{work_pool_name}/queues/{name}", a.poolQueueGet)
	route("PATCH", "/work_pools/{work_pool_name}/queues/{name}", a.poolQueueUpdate)
	route("DELETE", "/work_pools/{work_pool_name}/queues/{name}", a.poolQueueDelete)
	route("POST", "/work_queues/{$}", a.workQueueCreate)
	route("POST", "/work_queues/filter", a.workQueueFilter)
	route("GET", "/work_queues/name/{name}", a.workQueueGetByName)
	route("GET", "/work_queues/{id}", a.workQueueGet)
	route("PATCH", "/work_queues/{id}", a.workQueueUpdate)
	route("DELETE", "/work_queues/{id}", a.workQueueDelete)
	// GET /work_queues/{id}/status would overlap /work_queues/name/{name} on
	// /work_queues/name/status, which ServeMux refuses; Prefect tells them
	// apart by {id:uuid}, so this route does the same after matching.
	route("GET", "/work_queues/{id}/{sub}", a.workQueueSub)
}

// workQueueBody is the create/update body.
type workQueueBody struct {
	Name             *string              `json:"name"`
	Description      *string              `json:"description"`
	IsPaused         *bool                `json:"is_paused"`
	ConcurrencyLimit *int64               `json:"concurrency_limit"`
	Priority         *int64               `json:"priority"`
	Filter           *apitype.QueueFilter `json:"filter"`
	LastPolled       *time.Time           `json:"last_polled"`
}

// checkPriority is WorkQueueCreate/Update's priority: int > 0.
func checkPriority(raw []byte, p *int64) error {
	if p == nil || *p > 0 {
		return nil
	}
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", "priority"}, Type: "greater_than", Input: *p,
		Msg: "Input should be greater than 0", Ctx: map[string]any{"gt": 0},
	})
}

func presentWorkQueue(q *apitype.WorkQueue) *apitype.WorkQueue {
	if q.ConcurrencyLimit != nil {
		zero := int64(0) // a new queue holds no runs; reads count them (countQueueSlots)
		q.ActiveSlots = &zero
	}
	return q
}

func (a *app) decodeQueueCreate(r *http.Request, pool string) (*storage.WorkQueueCreateParams, error) {
	var body workQueueBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return nil, err
	}
	if err := checkName(raw, body.Name); err != nil {
		return nil, err
	}
	if err := checkLimitField(raw, body.ConcurrencyLimit); err != nil {
		return nil, err
	}
	if err := checkPriority(raw, body.Priority); err != nil {
		return nil, err
	}
	p := &storage.WorkQueueCreateParams{ID: uuid.New(), PoolName: pool, Name: *body.Name,
		ConcurrencyLimit: body.ConcurrencyLimit, Priority: body.Priority, Filter: body.Filter, Now: a.now().UTC()}
	if body.Description != nil {
		p.Description = *body.Description
	}
	if body.IsPaused != nil {
		p.IsPaused = *body.IsPaused
	}
	return p, nil
}

func (a *app) poolQueueCreate(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("work_pool_name")
	p, err := a.decodeQueueCreate(r, pool)
	if err != nil {
		return err
	}
	q, err := a.store.WorkQueueCreate(r.Context(), p)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errPoolNotFound(pool)
	case errors.Is(err, storage.ErrConflict):
		// Prefect's message is not an f-string, so the placeholder shows as is.
		return errDetail(http.StatusConflict, "A work queue with this name already exists in work pool {work_pool_name!r}.")
	case err != nil:
		return fmt.Errorf("create work queue: %w", err)
	}
	writeJSON(w, http.StatusCreated, presentWorkQueue(q))
	return nil
}

// poolQueue finds a queue by pool and name with Prefect's 404 details.
func (a *app) poolQueue(r *http.Request) (*apitype.WorkQueue, error) {
	pool, name := r.PathValue("work_pool_name"), r.PathValue("name")
	q, err := a.store.WorkQueueGetByName(r.Context(), pool, name, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		if _, perr := a.store.WorkPoolGetByName(r.Context(), pool, a.now().UTC()); errors.Is(perr, storage.ErrNotFound) {
			return nil, errPoolNotFound(pool)
		}
		return nil, errPoolQueueNotFound(pool, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read work queue: %w", err)
	}
	return q, nil
}

func (a *app) poolQueueGet(w http.ResponseWriter, r *http.Request) error {
	q, err := a.poolQueue(r)
	if err != nil {
		return err
	}
	if err := a.countQueueSlots(r.Context(), []*apitype.WorkQueue{presentWorkQueue(q)}, storage.PoolSlotStates); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

type workQueueFilterBody struct {
	WorkQueues *apitype.WorkQueueFilter `json:"work_queues"`
	Limit      *int                     `json:"limit"`
	Offset     *int                     `json:"offset"`
}

func (a *app) listQueues(w http.ResponseWriter, r *http.Request, pool string) error {
	var body workQueueFilterBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, body.Limit, body.Offset)
	if err != nil {
		return err
	}
	if pool != "" {
		if _, err := a.store.WorkPoolGetByName(r.Context(), pool, a.now().UTC()); errors.Is(err, storage.ErrNotFound) {
			return errPoolNotFound(pool)
		} else if err != nil {
			return fmt.Errorf("read work pool: %w", err)
		}
	}
	out := []*apitype.WorkQueue{}
	if !win.empty() {
		qs, err := a.store.WorkQueueList(r.Context(), &storage.WorkQueueListParams{
			PoolName: pool, Filter: body.WorkQueues, Limit: win.limit, Offset: win.offset, Now: a.now().UTC(),
		})
		if err != nil {
			return fmt.Errorf("list work queues: %w", err)
		}
		for i := range qs {
			out = append(out, presentWorkQueue(&qs[i]))
		}
		// Prefect's pool routes count PENDING and RUNNING runs, its
		// /work_queues routes CANCELLING ones too.
		states := storage.QueueSlotStates
		if pool != "" {
			states = storage.PoolSlotStates
		}
		if err := a.countQueueSlots(r.Context(), out, states); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) poolQueueFilter(w http.ResponseWriter, r *http.Request) error {
	return a.listQueues(w, r, r.PathValue("work_pool_name"))
}

func (a *app) workQueueFilter(w http.ResponseWriter, r *http.Request) error {
	return a.listQueues(w, r, "")
}

func decodeQueueUpdate(r *http.Request) (*apitype.WorkQueueUpdate, error) {
	var body workQueueBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, jsonError(raw, err)
	}
	if body.Name != nil {
		if err := checkName(raw, body.Name); err != nil {
			return nil, err
		}
	}
	if err := checkLimitField(raw, body.ConcurrencyLimit); err != nil {
		return nil, err
	}
	if err := checkPriority(raw, body.Priority); err != nil {
		return nil, err
	}
	u := &apitype.WorkQueueUpdate{Name: body.Name, Description: body.Description, IsPaused: body.IsPaused,
		ConcurrencyLimit: body.ConcurrencyLimit, Priority: body.Priority, LastPolled: body.LastPolled}
	_, u.ConcurrencyLimitSet = fields["concurrency_limit"]
	return u, nil
}

func (a *app) poolQueueUpdate(w http.ResponseWriter, r *http.Request) error {
	u, err := decodeQueueUpdate(r)
	if err != nil {
		return err
	}
	q, err := a.poolQueue(r)
	if err != nil {
		return err
	}
	return queueWritten(w, a.store.WorkQueueUpdate(r.Context(), q.ID, u, a.now().UTC()), errPoolQueueNotFound(q.WorkPoolName, q.Name))
}

func (a *app) poolQueueDelete(w http.ResponseWriter, r *http.Request) error {
	q, err := a.poolQueue(r)
	if err != nil {
		return err
	}
	return queueWritten(w, a.store.WorkQueueDelete(r.Context(), q.ID), errPoolQueueNotFound(q.WorkPoolName, q.Name))
}

// queueWritten answers a PATCH or DELETE of a queue.
func queueWritten(w http.ResponseWriter, err error, notFound *Error) error {
	switch {
	case errors.Is(err, storage.ErrDefaultQueue):
		return errDetail(http.StatusConflict, "Can't delete a pool's default queue.")
	case errors.Is(err, storage.ErrNotFound):
		return notFound
	case err != nil:
		return fmt.Errorf("write work queue: %w", err)
	}
	writeNoContent(w)
	return nil
}

// workQueueCreate puts the queue into Prefect's default agent pool, created
// on first use.
func (a *app) workQueueCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := a.decodeQueueCreate(r, apitype.DefaultAgentWorkPool)
	if err != nil {
		return err
	}
	q, err := a.store.WorkQueueCreate(r.Context(), p)
	if errors.Is(err, storage.ErrNotFound) {
		_, perr := a.store.WorkPoolCreate(r.Context(), &storage.WorkPoolCreateParams{
			ID: uuid.New(), DefaultQueueID: uuid.New(), Name: apitype.DefaultAgentWorkPool,
			Type: apitype.WorkPoolTypeAgent, Now: p.Now,
		})
		if perr != nil && !errors.Is(perr, storage.ErrConflict) { // a concurrent create is fine
			return fmt.Errorf("create default agent pool: %w", perr)
		}
		q, err = a.store.WorkQueueCreate(r.Context(), p)
	}
	if errors.Is(err, storage.ErrConflict) {
		return errDetail(http.StatusConflict, "A work queue with this name already exists.")
	}
	if err != nil {
		return fmt.Errorf("create work queue: %w", err)
	}
	writeJSON(w, http.StatusCreated, presentWorkQueue(q))
	return nil
}

func (a *app) workQueueGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	q, err := a.store.WorkQueueGet(r.Context(), id, a.now().UTC())
	return a.writeQueue(w, r, q, err)
}

func (a *app) workQueueGetByName(w http.ResponseWriter, r *http.Request) error {
	q, err := a.store.WorkQueueGetByName(r.Context(), apitype.DefaultAgentWorkPool, r.PathValue("name"), a.now().UTC())
	return a.writeQueue(w, r, q, err)
}

func (a *app) writeQueue(w http.ResponseWriter, r *http.Request, q *apitype.WorkQueue, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errWorkQueueNotFound
	}
	if err != nil {
		return fmt.Errorf("read work queue: %w", err)
	}
	if err := a.countQueueSlots(r.Context(), []*apitype.WorkQueue{presentWorkQueue(q)}, storage.QueueSlotStates); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

func (a *app) workQueueUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	u, err := decodeQueueUpdate(r)
	if err != nil {
		return err
	}
	return queueWritten(w, a.store.WorkQueueUpdate(r.Context(), id, u, a.now().UTC()),
		errDetail(http.StatusNotFound, fmt.Sprintf("Work Queue %s not found", id)))
}

func (a *app) workQueueDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	return queueWritten(w, a.store.WorkQueueDelete(r.Context(), id), errWorkQueueNotFound)
}

func (a *app) workQueueSub(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("sub") != "status" {
		return errNotFound
	}
	return a.workQueueStatus(w, r)
}

// workQueueStatus is Prefect's default health policy: no late runs and
// polled within the last 60 seconds.
func (a *app) workQueueStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	now := a.now().UTC()
	q, err := a.store.WorkQueueGet(r.Context(), id, now)
	if errors.Is(err, storage.ErrNotFound) {
		// Prefect raises ObjectNotFoundError here, whose handler answers exception_message.
		return &Error{Status: http.StatusNotFound, Body: map[string]any{"exception_message": fmt.Sprintf("Work queue with id %s not found", id)}}
	}
	if err != nil {
		return fmt.Errorf("read work queue: %w", err)
	}
	lateRuns, err := a.store.WorkQueueLateRuns(r.Context(), id)
	if err != nil {
		return fmt.Errorf("count late runs: %w", err)
	}
	healthy := lateRuns == 0 && q.LastPolled != nil && now.Sub(*q.LastPolled) <= storage.WorkQueuePollTimeout
	writeJSON(w, http.StatusOK, map[string]any{
		"healthy": healthy, "late_runs_count": lateRuns, "last_polled": q.LastPolled,
		"health_check_policy": map[string]any{"maximum_late_runs": 0, "maximum_seconds_since_last_polled": 60},
	})
	return nil
}
