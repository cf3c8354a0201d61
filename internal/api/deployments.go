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

// deploymentBulkDeleteLimit is Prefect's BULK_OPERATION_LIMIT.
const deploymentBulkDeleteLimit = 50

var (
	errDeploymentNotFound     = errDetail(http.StatusNotFound, "Deployment not found")
	errDeploymentNotFoundStop = errDetail(http.StatusNotFound, "Deployment not found.")
)

func errWorkPoolNotFoundQuoted(name string) *Error {
	return errDetail(http.StatusNotFound, fmt.Sprintf("Work pool %q not found.", name))
}

func (a *app) deploymentRoutes(route route) {
	route("POST", "/deployments/{$}", a.deploymentCreate)
	route("POST", "/deployments/filter", a.deploymentFilter)
	route("POST", "/deployments/count", a.deploymentCount)
	route("POST", "/deployments/paginate", a.deploymentPaginate)
	route("POST", "/deployments/bulk_delete", a.deploymentBulkDelete)
	route("GET", "/deployments/name/{flow_name}/{deployment_name}", a.deploymentGetByName)
	route("GET", "/deployments/{id}", a.deploymentGet)
	route("PATCH", "/deployments/{id}", a.deploymentUpdate)
	route("DELETE", "/deployments/{id}", a.deploymentDelete)
	route("POST", "/deployments/{id}/pause_deployment", a.deploymentPause)
	route("POST", "/deployments/{id}/resume_deployment", a.deploymentResume)
	route("GET", "/deployments/{id}/work_queue_check", a.deploymentWorkQueueCheck)
	route("GET", "/deployments/{id}/schedules", a.deploymentSchedules)
	route("POST", "/deployments/{id}/schedules", a.deploymentSchedulesCreate)
	route("PATCH", "/deployments/{id}/schedules/{schedule_id}", a.deploymentScheduleUpdate)
	route("DELETE", "/deployments/{id}/schedules/{schedule_id}", a.deploymentScheduleDelete)
	route("POST", "/deployments/{id}/create_flow_run", a.deploymentCreateFlowRun)
	route("POST", "/deployments/{id}/create_flow_run/bulk", a.deploymentCreateFlowRuns)
}

// scheduleBody is a DeploymentScheduleCreate / DeploymentScheduleUpdate.
type scheduleBody struct {
	Schedule         *apitype.Schedule `json:"schedule"`
	Active           *bool             `json:"active"`
	MaxScheduledRuns *int64            `json:"max_scheduled_runs"`
	Parameters       json.RawMessage   `json:"parameters"`
	Slug             *string           `json:"slug"`
	Replaces         *string           `json:"replaces"`
}

// deploymentBody is a DeploymentCreate or DeploymentUpdate.
type deploymentBody struct {
	Name                     *string                     `json:"name"`
	FlowID                   *uuid.UUID                  `json:"flow_id"`
	Paused                   *bool                       `json:"paused"`
	Schedules                []scheduleBody              `json:"schedules"`
	ConcurrencyLimit         *int64                      `json:"concurrency_limit"`
	ConcurrencyOptions       *apitype.ConcurrencyOptions `json:"concurrency_options"`
	GlobalConcurrencyLimitID *uuid.UUID                  `json:"global_concurrency_limit_id"`
	EnforceParameterSchema   *bool                       `json:"enforce_parameter_schema"`
	ParameterOpenAPISchema   json.RawMessage             `json:"parameter_openapi_schema"`
	Parameters               json.RawMessage             `json:"parameters"`
	Tags                     []string                    `json:"tags"`
	Labels                   map[string]any              `json:"labels"`
	PullSteps                json.RawMessage             `json:"pull_steps"`
	WorkQueueName            *string                     `json:"work_queue_name"`
	WorkPoolName             *string                     `json:"work_pool_name"`
	StorageDocumentID        *uuid.UUID                  `json:"storage_document_id"`
	InfrastructureDocumentID *uuid.UUID                  `json:"infrastructure_document_id"`
	Description              *string                     `json:"description"`
	Path                     *string                     `json:"path"`
	Version                  *string                     `json:"version"`
	Entrypoint               *string                     `json:"entrypoint"`
	JobVariables             json.RawMessage             `json:"job_variables"`
	VersionInfo              json.RawMessage             `json:"version_info"`
}

// decodeDeploymentBody decodes a create or update body and returns the
// keys present (nulls included).
func decodeDeploymentBody(r *http.Request) (*deploymentBody, []byte, map[string]bool, error) {
	var body deploymentBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return nil, raw, nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, raw, nil, jsonError(raw, err)
	}
	given := make(map[string]bool, len(fields))
	for k := range fields {
		given[k] = true
	}
	if err := checkLabels(raw, body.Labels); err != nil {
		return nil, raw, nil, err
	}
	if err := checkDeploymentObjects(raw, &body); err != nil {
		return nil, raw, nil, err
	}
	if body.ConcurrencyLimit != nil && *body.ConcurrencyLimit <= 0 {
		return nil, raw, nil, errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "concurrency_limit"}, Type: "greater_than", Input: *body.ConcurrencyLimit,
			Msg: "Input should be greater than 0", Ctx: map[string]any{"gt": 0},
		})
	}
	if o := body.ConcurrencyOptions; o != nil {
		if err := checkEnum(raw, "concurrency_options.collision_strategy", o.CollisionStrategy,
			apitype.CollisionEnqueue, apitype.CollisionCancelNew); err != nil {
			return nil, raw, nil, err
		}
	}
	if body.ConcurrencyLimit != nil && body.GlobalConcurrencyLimitID != nil {
		return nil, raw, nil, errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body"}, Type: "value_error", Input: echoBody(raw),
			Msg: "Value error, A deployment cannot have both a concurrency limit and a global concurrency limit.",
			Ctx: map[string]any{"error": map[string]any{}},
		})
	}
	for i, s := range body.Schedules {
		if s.MaxScheduledRuns != nil && *s.MaxScheduledRuns <= 0 {
			return nil, raw, nil, errValidation(echoBody(raw), ValidationDetail{
				Loc: []any{"body", "schedules", i, "max_scheduled_runs"}, Type: "greater_than", Input: *s.MaxScheduledRuns,
				Msg: "Input should be greater than 0", Ctx: map[string]any{"gt": 0},
			})
		}
	}
	return &body, raw, given, nil
}

// checkDeploymentObjects rejects non-object parameters / job_variables and a
// non-object parameter schema, as pydantic's dict fields.
func checkDeploymentObjects(raw []byte, b *deploymentBody) error {
	for _, f := range []struct {
		name string
		v    json.RawMessage
		null bool
	}{{"parameters", b.Parameters, false}, {"job_variables", b.JobVariables, true},
		{"parameter_openapi_schema", b.ParameterOpenAPISchema, true}} {
		if len(f.v) == 0 || (f.null && string(f.v) == "null") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(f.v, &obj); err != nil || obj == nil {
			return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", f.name}, Type: "dict_type",
				Msg: "Input should be a valid dictionary", Input: echoBody(f.v)})
		}
	}
	return nil
}

func scheduleParams(s []scheduleBody) ([]storage.DeploymentScheduleParams, error) {
	out := make([]storage.DeploymentScheduleParams, 0, len(s))
	for i, sb := range s {
		if sb.Schedule == nil {
			return nil, errValidation(nil, ValidationDetail{Loc: []any{"body", "schedules", i, "schedule"},
				Type: "missing", Msg: "Field required"})
		}
		p := storage.DeploymentScheduleParams{ID: uuid.Must(uuid.NewV7()), Schedule: *sb.Schedule, Active: true,
			MaxScheduledRuns: sb.MaxScheduledRuns, Parameters: sb.Parameters, Slug: sb.Slug}
		if sb.Active != nil {
			p.Active = *sb.Active
		}
		out = append(out, p)
	}
	return out, nil
}

// presentDeployment fills Prefect's response defaults. concurrency_limit is
// always null in Prefect 3's responses (deprecated for global_concurrency_limit).
func presentDeployment(d *apitype.Deployment) *apitype.Deployment {
	d.ConcurrencyLimit = nil
	if d.Tags == nil {
		d.Tags = []string{}
	}
	if d.Schedules == nil {
		d.Schedules = []apitype.DeploymentSchedule{}
	}
	if d.Labels == nil {
		d.Labels = map[string]any{}
	}
	return d
}

func (a *app) deploymentCreate(w http.ResponseWriter, r *http.Request) error {
	body, raw, given, err := decodeDeploymentBody(r)
	if err != nil {
		return err
	}
	var missing []ValidationDetail
	if body.Name == nil {
		missing = append(missing, ValidationDetail{Loc: []any{"body", "name"}, Type: "missing", Msg: "Field required", Input: echoBody(raw)})
	}
	if body.FlowID == nil {
		missing = append(missing, ValidationDetail{Loc: []any{"body", "flow_id"}, Type: "missing", Msg: "Field required", Input: echoBody(raw)})
	}
	if len(missing) > 0 {
		return errValidation(echoBody(raw), missing...)
	}
	if err := a.checkParameters(raw, body.Parameters); err != nil {
		return err
	}
	scheds, err := scheduleParams(body.Schedules)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	flow, err := a.store.FlowGet(r.Context(), *body.FlowID)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusConflict, integrityConflictDetail)
	}
	if err != nil {
		return fmt.Errorf("read flow: %w", err)
	}
	if err := a.checkGlobalLimit(r, body.GlobalConcurrencyLimitID); err != nil {
		return err
	}
	pool := body.WorkPoolName
	if pool != nil && *pool == "" {
		pool = nil
	}
	queue := body.WorkQueueName
	if queue != nil && *queue == "" {
		queue = nil
	}
	p := &storage.DeploymentUpsertParams{
		Given: given, ConcurrencyLimitSet: given["concurrency_limit"], GlobalConcurrencyLimitIDSet: given["global_concurrency_limit_id"],
		ID: uuid.Must(uuid.NewV7()), FlowID: flow.ID, Name: *body.Name, Version: body.Version, VersionInfo: body.VersionInfo,
		Description: body.Description, Paused: deref(body.Paused), Schedules: scheds, ConcurrencyLimit: body.ConcurrencyLimit,
		ConcurrencyOptions: body.ConcurrencyOptions, GlobalConcurrencyLimitID: body.GlobalConcurrencyLimitID,
		JobVariables: body.JobVariables, Parameters: body.Parameters, ParameterOpenAPISchema: body.ParameterOpenAPISchema,
		EnforceParameterSchema: body.EnforceParameterSchema == nil || *body.EnforceParameterSchema, Tags: body.Tags,
		WorkPoolName: pool, WorkQueueName: queue, Path: body.Path, Entrypoint: body.Entrypoint, PullSteps: body.PullSteps,
		StorageDocumentID: body.StorageDocumentID, InfrastructureDocumentID: body.InfrastructureDocumentID, Now: now,
	}
	// Prefect's ORM defaults for a new row.
	if !given["parameter_openapi_schema"] {
		p.ParameterOpenAPISchema = json.RawMessage(`{}`)
	}
	if !given["pull_steps"] {
		p.PullSteps = json.RawMessage(`[]`)
	}
	// Labels: the flow's, then prefect.flow.id, then the caller's.
	p.Labels = map[string]any{}
	for k, v := range flow.Labels {
		p.Labels[k] = v
	}
	p.Labels["prefect.flow.id"] = flow.ID.String()
	for k, v := range body.Labels {
		p.Labels[k] = v
	}
	d, created, err := a.store.DeploymentUpsert(r.Context(), p)
	switch {
	case errors.Is(err, storage.ErrNotFound) && pool != nil:
		return errWorkPoolNotFoundQuoted(*pool)
	case errors.Is(err, storage.ErrConflict):
		return errDetail(http.StatusConflict, integrityConflictDetail)
	case err != nil:
		return fmt.Errorf("upsert deployment: %w", err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, presentDeployment(d))
	return nil
}

// checkGlobalLimit answers Prefect's 404 when a named v2 limit is missing.
func (a *app) checkGlobalLimit(r *http.Request, id *uuid.UUID) error {
	if id == nil {
		return nil
	}
	_, err := a.store.ConcurrencyLimitV2Get(r.Context(), storage.LimitKey{ID: *id}, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusNotFound, "Concurrency limit not found")
	}
	if err != nil {
		return fmt.Errorf("read concurrency limit: %w", err)
	}
	return nil
}

// deployment reads the {id} deployment; notFound is the route's 404.
func (a *app) deployment(r *http.Request, notFound *Error) (*apitype.Deployment, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return nil, err
	}
	d, err := a.store.DeploymentGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("read deployment: %w", err)
	}
	return d, nil
}

func (a *app) deploymentGet(w http.ResponseWriter, r *http.Request) error {
	d, err := a.deployment(r, errDeploymentNotFound)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, presentDeployment(d))
	return nil
}

func (a *app) deploymentGetByName(w http.ResponseWriter, r *http.Request) error {
	d, err := a.store.DeploymentGetByName(r.Context(), r.PathValue("flow_name"), r.PathValue("deployment_name"))
	if errors.Is(err, storage.ErrNotFound) {
		return errDeploymentNotFound
	}
	if err != nil {
		return fmt.Errorf("read deployment: %w", err)
	}
	writeJSON(w, http.StatusOK, presentDeployment(d))
	return nil
}

func (a *app) deploymentDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	err = a.store.DeploymentDelete(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errDeploymentNotFound
	}
	if err != nil {
		return fmt.Errorf("delete deployment: %w", err)
	}
	writeNoContent(w)
	return nil
}

// deploymentPause is Prefect's pause_deployment: paused, and every
// auto-scheduled run still waiting deleted.
func (a *app) deploymentPause(w http.ResponseWriter, r *http.Request) error {
	return a.setPaused(w, r, true)
}

func (a *app) deploymentResume(w http.ResponseWriter, r *http.Request) error {
	return a.setPaused(w, r, false)
}

func (a *app) setPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	now := a.now().UTC()
	err = a.store.DeploymentUpdate(r.Context(), id, &storage.DeploymentUpdateParams{Paused: &paused, Now: now})
	if errors.Is(err, storage.ErrNotFound) {
		return errDeploymentNotFound
	}
	if err != nil {
		return fmt.Errorf("update deployment: %w", err)
	}
	if paused {
		if _, err := a.store.DeploymentDeleteScheduledRuns(r.Context(), id, nil, time.Time{}); err != nil {
			return fmt.Errorf("delete scheduled runs: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

// deploymentWorkQueueCheck is Prefect's deprecated work_queue_check: the
// queues whose legacy filter would pick the deployment up.
func (a *app) deploymentWorkQueueCheck(w http.ResponseWriter, r *http.Request) error {
	d, err := a.deployment(r, errDeploymentNotFound)
	if err != nil {
		return err
	}
	qs, err := a.store.WorkQueueList(r.Context(), &storage.WorkQueueListParams{Now: a.now().UTC()})
	if err != nil {
		return fmt.Errorf("list work queues: %w", err)
	}
	out := []map[string]any{}
	for _, q := range qs {
		if !queueMatches(q.Filter, d) {
			continue
		}
		out = append(out, map[string]any{"id": q.ID, "created": q.Created, "updated": q.Updated, "name": q.Name,
			"description": q.Description, "is_paused": q.IsPaused, "concurrency_limit": q.ConcurrencyLimit,
			"priority": q.Priority, "work_pool_id": q.WorkPoolID, "filter": q.Filter, "last_polled": q.LastPolled})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// queueMatches: the queue's tags are a subset of the deployment's and its
// deployment ids, when any, include the deployment.
func queueMatches(f *apitype.QueueFilter, d *apitype.Deployment) bool {
	if f == nil {
		return true
	}
	have := map[string]bool{}
	for _, t := range d.Tags {
		have[t] = true
	}
	for _, t := range f.Tags {
		if !have[t] {
			return false
		}
	}
	if len(f.DeploymentIDs) == 0 {
		return true
	}
	for _, id := range f.DeploymentIDs {
		if id == d.ID {
			return true
		}
	}
	return false
}
