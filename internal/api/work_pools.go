package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Pools whose name starts with "prefect" (any case) are Prefect's own.
func reservedPool(name string) bool { return strings.HasPrefix(strings.ToLower(name), "prefect") }

func errPoolNotFound(name string) *Error {
	return errDetail(http.StatusNotFound, `Work pool "`+name+`" not found.`)
}

func (a *app) workPoolRoutes(route route) {
	route("POST", "/work_pools/{$}", a.workPoolCreate)
	route("POST", "/work_pools/filter", a.workPoolFilter)
	route("POST", "/work_pools/count", a.workPoolCount)
	route("GET", "/work_pools/{name}", a.workPoolGet)
	route("PATCH", "/work_pools/{name}", a.workPoolUpdate)
	route("DELETE", "/work_pools/{name}", a.workPoolDelete)
}

// workPoolBody is the create/update body; pointers tell absent from set.
type workPoolBody struct {
	Name                 *string                               `json:"name"`
	Description          *string                               `json:"description"`
	Type                 *string                               `json:"type"`
	BaseJobTemplate      json.RawMessage                       `json:"base_job_template"`
	IsPaused             *bool                                 `json:"is_paused"`
	ConcurrencyLimit     *int64                                `json:"concurrency_limit"`
	StorageConfiguration *apitype.WorkPoolStorageConfiguration `json:"storage_configuration"`
}

// checkObject requires a JSON object (a dict field in Prefect's schema).
func checkObject(raw []byte, field string, v json.RawMessage) error {
	if len(v) == 0 || bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
		return nil
	}
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", field}, Type: "dict_type", Msg: "Input should be a valid dictionary",
		Input: inputAt(raw, []any{field}),
	})
}

func checkLimitField(raw []byte, v *int64) error {
	if v == nil || *v >= 0 {
		return nil
	}
	return checkMin(raw, "concurrency_limit", int(*v), 0)
}

func presentWorkPool(p *apitype.WorkPool) *apitype.WorkPool {
	if len(p.BaseJobTemplate) == 0 {
		p.BaseJobTemplate = json.RawMessage("{}")
	}
	if p.ConcurrencyLimit != nil {
		// A new pool holds no runs; reads count them (countPoolSlots).
		zero := int64(0)
		p.ActiveSlots = &zero
	}
	return p
}

func (a *app) workPoolCreate(w http.ResponseWriter, r *http.Request) error {
	var body workPoolBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if err := checkName(raw, body.Name); err != nil {
		return err
	}
	if err := checkObject(raw, "base_job_template", body.BaseJobTemplate); err != nil {
		return err
	}
	if err := checkLimitField(raw, body.ConcurrencyLimit); err != nil {
		return err
	}
	if reservedPool(*body.Name) {
		return errDetail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use.")
	}
	p := &storage.WorkPoolCreateParams{
		ID: uuid.New(), DefaultQueueID: uuid.New(), Name: *body.Name, Description: body.Description,
		Type: apitype.WorkPoolTypeAgent, BaseJobTemplate: body.BaseJobTemplate, ConcurrencyLimit: body.ConcurrencyLimit,
		Now: a.now().UTC(),
	}
	if body.Type != nil {
		p.Type = *body.Type
	}
	if body.IsPaused != nil {
		p.IsPaused = *body.IsPaused
	}
	if body.StorageConfiguration != nil {
		p.StorageConfiguration = *body.StorageConfiguration
	}
	pool, err := a.store.WorkPoolCreate(r.Context(), p)
	if errors.Is(err, storage.ErrConflict) {
		return errDetail(http.StatusConflict, "A work pool with this name already exists.")
	}
	if err != nil {
		return fmt.Errorf("create work pool: %w", err)
	}
	writeJSON(w, http.StatusCreated, presentWorkPool(pool))
	return nil
}

func (a *app) workPoolGet(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	pool, err := a.store.WorkPoolGetByName(r.Context(), name, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("read work pool: %w", err)
	}
	if err := a.countPoolSlots(r.Context(), []*apitype.WorkPool{presentWorkPool(pool)}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pool)
	return nil
}

type workPoolFilterBody struct {
	WorkPools *apitype.WorkPoolFilter `json:"work_pools"`
	Limit     *int                    `json:"limit"`
	Offset    *int                    `json:"offset"`
}

func (a *app) workPoolFilter(w http.ResponseWriter, r *http.Request) error {
	var body workPoolFilterBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, body.Limit, body.Offset)
	if err != nil {
		return err
	}
	out := []*apitype.WorkPool{}
	if !win.empty() {
		pools, err := a.store.WorkPoolList(r.Context(), &storage.WorkPoolListParams{
			Filter: body.WorkPools, Limit: win.limit, Offset: win.offset, Now: a.now().UTC(),
		})
		if err != nil {
			return fmt.Errorf("list work pools: %w", err)
		}
		for i := range pools {
			out = append(out, presentWorkPool(&pools[i]))
		}
		if err := a.countPoolSlots(r.Context(), out); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) workPoolCount(w http.ResponseWriter, r *http.Request) error {
	var body workPoolFilterBody
	if _, err := decodeBody(r, &body, true); err != nil {
		return err
	}
	n, err := a.store.WorkPoolCount(r.Context(), body.WorkPools)
	if err != nil {
		return fmt.Errorf("count work pools: %w", err)
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (a *app) workPoolUpdate(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var body workPoolBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return jsonError(raw, err)
	}
	if err := checkObject(raw, "base_job_template", body.BaseJobTemplate); err != nil {
		return err
	}
	if err := checkLimitField(raw, body.ConcurrencyLimit); err != nil {
		return err
	}
	u := &apitype.WorkPoolUpdate{IsPaused: body.IsPaused, ConcurrencyLimit: body.ConcurrencyLimit,
		StorageConfiguration: body.StorageConfiguration, Description: body.Description}
	_, u.DescriptionSet = fields["description"]
	_, u.ConcurrencyLimitSet = fields["concurrency_limit"]
	if present(body.BaseJobTemplate) {
		u.BaseJobTemplate = body.BaseJobTemplate
	}
	if reservedPool(name) {
		for _, k := range []string{"description", "base_job_template", "storage_configuration"} {
			if _, set := fields[k]; set {
				return errDetail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use "+
					"and can only be updated to set concurrency limits or pause.")
			}
		}
	}
	err = a.store.WorkPoolUpdate(r.Context(), name, u, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("update work pool: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) workPoolDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if reservedPool(name) {
		return errDetail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use and can not be deleted.")
	}
	err := a.store.WorkPoolDelete(r.Context(), name)
	if errors.Is(err, storage.ErrNotFound) {
		return errPoolNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("delete work pool: %w", err)
	}
	writeNoContent(w)
	return nil
}
