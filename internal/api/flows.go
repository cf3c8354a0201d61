package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// flowBulkDeleteLimit is Prefect's BULK_OPERATION_LIMIT for flows.
const flowBulkDeleteLimit = 50

// namePattern is Prefect's Name type: no "/", "%", "&", ">" or "<", not empty.
const namePattern = `^[^/%&><]+$`

var nameRE = regexp.MustCompile(namePattern)

var errFlowNotFound = errDetail(http.StatusNotFound, "Flow not found")

// flowQuery is the body of the flow read endpoints.
type flowQuery struct {
	Flows       *apitype.FlowFilter       `json:"flows"`
	FlowRuns    *apitype.FlowRunFilter    `json:"flow_runs"`
	TaskRuns    *apitype.TaskRunFilter    `json:"task_runs"`
	Deployments *apitype.DeploymentFilter `json:"deployments"`
	WorkPools   *apitype.WorkPoolFilter   `json:"work_pools"`
	Sort        *string                   `json:"sort"`
	Limit       *int                      `json:"limit"`
	Offset      *int                      `json:"offset"`
	Page        *int                      `json:"page"`
}

func (q *flowQuery) storage() *storage.FlowQuery {
	return &storage.FlowQuery{Flows: q.Flows, FlowRuns: q.FlowRuns, TaskRuns: q.TaskRuns,
		Deployments: q.Deployments, WorkPools: q.WorkPools}
}

func (a *app) flowRoutes(route route) {
	route("POST", "/flows/{$}", a.flowCreate)
	route("POST", "/flows/filter", a.flowFilter)
	route("POST", "/flows/count", a.flowCount)
	route("POST", "/flows/paginate", a.flowPaginate)
	route("POST", "/flows/bulk_delete", a.flowBulkDelete)
	route("GET", "/flows/name/{name}", a.flowGetByName)
	route("GET", "/flows/{id}", a.flowGet)
	route("PATCH", "/flows/{id}", a.flowUpdate)
	route("DELETE", "/flows/{id}", a.flowDelete)
}

// decodeFlowQuery decodes and validates a flow read body.
func (a *app) decodeFlowQuery(r *http.Request) (*flowQuery, []byte, error) {
	var q flowQuery
	raw, err := decodeBody(r, &q, true)
	if err != nil {
		return nil, raw, err
	}
	if q.Sort != nil {
		if err := checkEnum(raw, "sort", *q.Sort, apitype.FlowSortCreatedDesc,
			apitype.FlowSortUpdatedDesc, apitype.FlowSortNameAsc, apitype.FlowSortNameDesc); err != nil {
			return nil, raw, err
		}
	}
	return &q, raw, nil
}

func (q *flowQuery) sort() string {
	if q.Sort == nil {
		return apitype.FlowSortNameAsc
	}
	return *q.Sort
}

// presentFlow fills Prefect's defaults for absent collections.
func presentFlow(f *apitype.Flow) *apitype.Flow {
	if f.Tags == nil {
		f.Tags = []string{}
	}
	if f.Labels == nil {
		f.Labels = map[string]any{}
	}
	return f
}

func (a *app) flowCreate(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name   *string        `json:"name"`
		Tags   []string       `json:"tags"`
		Labels map[string]any `json:"labels"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if err := checkName(raw, body.Name); err != nil {
		return err
	}
	if err := checkLabels(raw, body.Labels); err != nil {
		return err
	}
	flow, created, err := a.store.FlowCreate(r.Context(), &storage.FlowCreateParams{
		ID: uuid.New(), Name: *body.Name, Tags: body.Tags, Labels: body.Labels, Now: a.now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("create flow: %w", err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, presentFlow(flow))
	return nil
}

// checkName validates a required Name-typed body field "name".
func checkName(raw []byte, name *string) error {
	if name == nil {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "missing", Msg: "Field required", Input: echoBody(raw),
		})
	}
	if !nameRE.MatchString(*name) {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "string_pattern_mismatch", Input: *name,
			Msg: "String should match pattern '" + namePattern + "'",
			Ctx: map[string]any{"pattern": namePattern},
		})
	}
	return nil
}

// checkLabels enforces KeyValueLabels: values are strings, numbers or booleans.
func checkLabels(raw []byte, labels map[string]any) error {
	for k, v := range labels {
		switch v.(type) {
		case string, float64, bool:
		default:
			return errValidation(echoBody(raw), ValidationDetail{
				Loc: []any{"body", "labels", k}, Type: "string_type", Input: v,
				Msg: "Input should be a valid string",
			})
		}
	}
	return nil
}

func (a *app) flowGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	flow, err := a.store.FlowGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowNotFound
	}
	if err != nil {
		return fmt.Errorf("read flow: %w", err)
	}
	writeJSON(w, http.StatusOK, presentFlow(flow))
	return nil
}

func (a *app) flowGetByName(w http.ResponseWriter, r *http.Request) error {
	flow, err := a.store.FlowGetByName(r.Context(), r.PathValue("name"))
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowNotFound
	}
	if err != nil {
		return fmt.Errorf("read flow by name: %w", err)
	}
	writeJSON(w, http.StatusOK, presentFlow(flow))
	return nil
}

func (a *app) flowFilter(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := a.decodeFlowQuery(r)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	out := []*apitype.Flow{}
	if win.empty() {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	flows, err := a.store.FlowList(r.Context(), &storage.FlowListParams{
		FlowQuery: *q.storage(), Sort: q.sort(), Limit: win.limit, Offset: win.offset,
	})
	if err != nil {
		return fmt.Errorf("list flows: %w", err)
	}
	for i := range flows {
		out = append(out, presentFlow(&flows[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) flowCount(w http.ResponseWriter, r *http.Request) error {
	q, _, err := a.decodeFlowQuery(r)
	if err != nil {
		return err
	}
	n, err := a.store.FlowCount(r.Context(), q.storage())
	if err != nil {
		return fmt.Errorf("count flows: %w", err)
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (a *app) flowPaginate(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := a.decodeFlowQuery(r)
	if err != nil {
		return err
	}
	win, page, err := a.pageWindow(raw, q.Limit, q.Page)
	if err != nil {
		return err
	}
	limit := win.limit
	var (
		flows []apitype.Flow
		count int64
	)
	if !win.empty() {
		flows, err = a.store.FlowList(r.Context(), &storage.FlowListParams{
			FlowQuery: *q.storage(), Sort: q.sort(), Limit: win.limit, Offset: win.offset,
		})
		if err != nil {
			return fmt.Errorf("list flows: %w", err)
		}
	}
	if count, err = a.store.FlowCount(r.Context(), q.storage()); err != nil {
		return fmt.Errorf("count flows: %w", err)
	}
	resp := apitype.FlowPaginationResponse{Results: make([]apitype.Flow, len(flows)), Count: count, Limit: limit, Page: page}
	for i := range flows {
		resp.Results[i] = *presentFlow(&flows[i])
	}
	if limit > 0 {
		resp.Pages = (count + int64(limit) - 1) / int64(limit)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *app) flowUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body apitype.FlowUpdate
	if _, err := decodeBody(r, &body, false); err != nil {
		return err
	}
	err = a.store.FlowUpdate(r.Context(), id, &body, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowNotFound
	}
	if err != nil {
		return fmt.Errorf("update flow: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) flowDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	err = a.store.FlowDelete(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowNotFound
	}
	if err != nil {
		return fmt.Errorf("delete flow: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) flowBulkDelete(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Flows *apitype.FlowFilter `json:"flows"`
		Limit *int                `json:"limit"`
	}
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	limit := flowBulkDeleteLimit
	if body.Limit != nil {
		limit = *body.Limit
	}
	if err := checkMin(raw, "limit", limit, 1); err != nil {
		return err
	}
	if err := checkMax(raw, "limit", limit, flowBulkDeleteLimit); err != nil {
		return err
	}
	ids, err := a.store.FlowDeleteMany(r.Context(), body.Flows, limit)
	if err != nil {
		return fmt.Errorf("bulk delete flows: %w", err)
	}
	if ids == nil {
		ids = []uuid.UUID{}
	}
	writeJSON(w, http.StatusOK, apitype.FlowBulkDeleteResponse{Deleted: ids})
	return nil
}
