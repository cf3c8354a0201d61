package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// deploymentUpdate is Prefect's PATCH /deployments/{id}.
func (a *app) deploymentUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	body, raw, given, err := decodeDeploymentBody(r)
	if err != nil {
		return err
	}
	if err := a.checkParameters(raw, body.Parameters); err != nil {
		return err
	}
	existing, err := a.store.DeploymentGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errDeploymentNotFoundStop
	}
	if err != nil {
		return fmt.Errorf("read deployment: %w", err)
	}
	now := a.now().UTC()
	u := &storage.DeploymentUpdateParams{
		Version: body.Version, Description: body.Description, Paused: body.Paused, ConcurrencyLimit: body.ConcurrencyLimit,
		ConcurrencyLimitSet: given["concurrency_limit"], ConcurrencyOptions: body.ConcurrencyOptions,
		ConcurrencyOptionsSet: given["concurrency_options"], GlobalConcurrencyLimitID: body.GlobalConcurrencyLimitID,
		GlobalConcurrencyLimitIDSet: given["global_concurrency_limit_id"], Parameters: nullToNil(body.Parameters),
		ParameterOpenAPISchema: body.ParameterOpenAPISchema, Tags: body.Tags, WorkPoolNameSet: given["work_pool_name"],
		WorkPoolName: body.WorkPoolName, WorkQueueName: body.WorkQueueName, Path: body.Path,
		JobVariables: nullToNil(body.JobVariables), PullSteps: body.PullSteps, Entrypoint: body.Entrypoint,
		StorageDocumentID: body.StorageDocumentID, InfrastructureDocumentID: body.InfrastructureDocumentID,
		EnforceParameterSchema: body.EnforceParameterSchema, Now: now,
	}
	if err := planSchedules(u, existing, body.Schedules); err != nil {
		return err
	}
	if err := checkUpdatedParameters(existing, body); err != nil {
		return err
	}
	if err := a.checkGlobalLimit(r, body.GlobalConcurrencyLimitID); err != nil {
		return err
	}
	err = a.store.DeploymentUpdate(r.Context(), id, u)
	switch {
	case errors.Is(err, storage.ErrNotFound) && body.WorkPoolName != nil && *body.WorkPoolName != "":
		return errWorkPoolNotFoundQuoted(*body.WorkPoolName)
	case errors.Is(err, storage.ErrNotFound):
		// Deleted meanwhile, or a renamed schedule's slug vanished.
		return errDeploymentNotFoundStop
	case err != nil:
		return fmt.Errorf("update deployment: %w", err)
	}
	writeNoContent(w)
	return nil
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// planSchedules is Prefect's choice between replacing every schedule and
// slug-matched updates (when the existing and the sent schedules all have
// slugs), with its 422s.
func planSchedules(u *storage.DeploymentUpdateParams, existing *apitype.Deployment, sent []scheduleBody) error {
	allSent, allExisting := true, len(existing.Schedules) > 0
	for _, s := range sent {
		allSent = allSent && s.Slug != nil
	}
	current := map[string]bool{}
	for _, s := range existing.Schedules {
		allExisting = allExisting && s.Slug != nil
		if s.Slug != nil {
			current[*s.Slug] = true
		}
	}
	if !allExisting {
		if sent == nil {
			return nil
		}
		var create []scheduleBody
		for _, s := range sent {
			if s.Schedule != nil {
				create = append(create, s)
			}
		}
		ps, err := scheduleParams(create)
		if err != nil {
			return err
		}
		u.Schedules = ps
		return nil
	}
	if !allSent {
		return errDetail(http.StatusUnprocessableEntity,
			"Please provide a slug for each schedule in your request to ensure schedules are updated correctly.")
	}
	replaced := map[string]bool{}
	for _, s := range sent {
		if s.Replaces == nil {
			continue
		}
		if replaced[*s.Replaces] {
			return errDetail(http.StatusUnprocessableEntity,
				"Multiple schedules have 'replaces' targeting the same slug: "+*s.Replaces)
		}
		replaced[*s.Replaces] = true
	}
	for _, s := range sent {
		if s.Replaces != nil && current[*s.Slug] && !replaced[*s.Slug] {
			return errDetail(http.StatusUnprocessableEntity, fmt.Sprintf(
				"Cannot rename schedule from '%s' to '%s': a schedule with slug '%s' already exists.", *s.Replaces, *s.Slug, *s.Slug))
		}
	}
	noConfig := errDetail(http.StatusUnprocessableEntity, "Unable to create new deployment schedules without a schedule configuration.")
	for _, s := range sent {
		target := *s.Slug
		if s.Replaces != nil {
			target = *s.Replaces
		}
		if current[target] {
			u.SchedulePatches = append(u.SchedulePatches, storage.DeploymentSchedulePatch{Target: target,
				Update: storage.DeploymentScheduleUpdate{Schedule: s.Schedule, Active: s.Active,
					MaxScheduledRuns: s.MaxScheduledRuns, Parameters: nullToNil(s.Parameters), Slug: s.Slug}})
			continue
		}
		if s.Schedule == nil {
			return noConfig
		}
		ps, err := scheduleParams([]scheduleBody{s})
		if err != nil {
			return err
		}
		u.SchedulesAdd = append(u.SchedulesAdd, ps...)
	}
	return nil
}

// checkUpdatedParameters validates the parameters the deployment will have
// against the schema it will have when enforcement stays on (Prefect's
// 409s; required parameters are not demanded here).
func checkUpdatedParameters(existing *apitype.Deployment, body *deploymentBody) error {
	enforce := existing.EnforceParameterSchema
	if body.EnforceParameterSchema != nil {
		enforce = *body.EnforceParameterSchema
	}
	if !enforce {
		return nil
	}
	schema := existing.ParameterOpenAPISchema
	if len(body.ParameterOpenAPISchema) > 0 && string(body.ParameterOpenAPISchema) != "null" && string(body.ParameterOpenAPISchema) != "{}" {
		schema = body.ParameterOpenAPISchema
	}
	var obj map[string]any
	if json.Unmarshal(schema, &obj) != nil || obj == nil {
		return errDetail(http.StatusConflict, "Error updating deployment: Cannot update parameters because parameter "+
			"schema enforcement is enabled and the deployment does not have a valid parameter schema.")
	}
	params := existing.Parameters
	if p := nullToNil(body.Parameters); p != nil {
		params = p
	}
	delete(obj, "required")
	stripped, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode schema: %w", err)
	}
	if reason := parameterError(string(stripped), params); reason != "" {
		return errDetail(http.StatusConflict, "Error updating deployment: "+reason)
	}
	return nil
}

// parameterError validates parameters against a deployment's parameter
// schema and returns Prefect's ValidationError text, "" when valid.
func parameterError(schema string, params json.RawMessage) string {
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	reason := validateRunInput(schema, params)
	const prefix = "Reason: "
	if len(reason) > len(prefix) && reason[:len(prefix)] == prefix {
		return reason[len(prefix):]
	}
	return reason
}

func (a *app) deploymentSchedules(w http.ResponseWriter, r *http.Request) error {
	d, err := a.deployment(r, errDeploymentNotFoundStop)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Schedules)
	return nil
}

func (a *app) deploymentSchedulesCreate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body []scheduleBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return err
	}
	ps, err := scheduleParams(body)
	if err != nil {
		return err
	}
	if _, err := a.deployment(r, errDeploymentNotFoundStop); err != nil {
		return err
	}
	out, err := a.store.DeploymentSchedulesCreate(r.Context(), id, ps, a.now().UTC())
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errDetail(http.StatusConflict, "Schedule slugs must be unique within a deployment.")
	case errors.Is(err, storage.ErrNotFound):
		return errDeploymentNotFoundStop
	case err != nil:
		return fmt.Errorf("create schedules: %w", err)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *app) deploymentScheduleUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	scheduleID, err := pathUUID(r, "schedule_id")
	if err != nil {
		return err
	}
	var body scheduleBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return err
	}
	if _, err := a.deployment(r, errDeploymentNotFoundStop); err != nil {
		return err
	}
	err = a.store.DeploymentScheduleUpdate(r.Context(), id, scheduleID, &storage.DeploymentScheduleUpdate{
		Schedule: body.Schedule, Active: body.Active, MaxScheduledRuns: body.MaxScheduledRuns,
		Parameters: nullToNil(body.Parameters), Slug: body.Slug}, a.now().UTC())
	return scheduleWritten(w, err)
}

func (a *app) deploymentScheduleDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	scheduleID, err := pathUUID(r, "schedule_id")
	if err != nil {
		return err
	}
	if _, err := a.deployment(r, errDeploymentNotFoundStop); err != nil {
		return err
	}
	return scheduleWritten(w, a.store.DeploymentScheduleDelete(r.Context(), id, scheduleID))
}

func scheduleWritten(w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errDetail(http.StatusNotFound, "Schedule not found.")
	case errors.Is(err, storage.ErrConflict):
		return errDetail(http.StatusConflict, "Schedule slugs must be unique within a deployment.")
	case err != nil:
		return fmt.Errorf("write schedule: %w", err)
	}
	writeNoContent(w)
	return nil
}
