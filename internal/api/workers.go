package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func (a *app) workerRoutes(route route) {
	route("POST", "/work_pools/{work_pool_name}/workers/heartbeat", a.workerHeartbeat)
	route("POST", "/work_pools/{work_pool_name}/workers/filter", a.workerFilter)
	route("DELETE", "/work_pools/{work_pool_name}/workers/{name}", a.workerDelete)
}

type heartbeatBody struct {
	Name                     *string `json:"name"`
	HeartbeatIntervalSeconds *int64  `json:"heartbeat_interval_seconds"`
}

func (a *app) workerHeartbeat(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("work_pool_name")
	var body heartbeatBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.Name == nil {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "missing", Msg: "Field required", Input: echoBody(raw),
		})
	}
	err = a.store.WorkerHeartbeat(r.Context(), &storage.WorkerHeartbeatParams{
		ID: uuid.New(), PoolName: pool, Name: *body.Name,
		HeartbeatIntervalSeconds: body.HeartbeatIntervalSeconds, Now: a.now().UTC(),
	})
	if errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(pool)
	}
	if err != nil {
		return fmt.Errorf("record heartbeat: %w", err)
	}
	writeNoContent(w)
	return nil
}

type workerFilterBody struct {
	Workers *apitype.WorkerFilter `json:"workers"`
	Limit   *int                  `json:"limit"`
	Offset  *int                  `json:"offset"`
}

func (a *app) workerFilter(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("work_pool_name")
	var body workerFilterBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, body.Limit, body.Offset)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	if _, err := a.store.WorkPoolGetByName(r.Context(), pool, now); errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(pool)
	} else if err != nil {
		return fmt.Errorf("read work pool: %w", err)
	}
	out := []apitype.Worker{}
	if !win.empty() {
		if out, err = a.store.WorkerList(r.Context(), &storage.WorkerListParams{
			PoolName: pool, Filter: body.Workers, Limit: win.limit, Offset: win.offset, Now: now,
		}); err != nil {
			return fmt.Errorf("list workers: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) workerDelete(w http.ResponseWriter, r *http.Request) error {
	pool := r.PathValue("work_pool_name")
	if _, err := a.store.WorkPoolGetByName(r.Context(), pool, a.now().UTC()); errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(pool)
	} else if err != nil {
		return fmt.Errorf("read work pool: %w", err)
	}
	err := a.store.WorkerDelete(r.Context(), pool, r.PathValue("name"))
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Worker not found.")
	}
	if err != nil {
		return fmt.Errorf("delete worker: %w", err)
	}
	writeNoContent(w)
	return nil
}
