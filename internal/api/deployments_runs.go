package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// deploymentBulkCreateLimit is Prefect's BULK_CREATE_LIMIT.
const deploymentBulkCreateLimit = 100

// deploymentRunBody is Prefect's DeploymentFlowRunCreate.
type deploymentRunBody struct {
	State                    *apitype.StateCreate   `json:"state"`
	Name                     *string                `json:"name"`
	Parameters               json.RawMessage        `json:"parameters"`
	EnforceParameterSchema   *bool                  `json:"enforce_parameter_schema"`
	Context                  json.RawMessage        `json:"context"`
	InfrastructureDocumentID *uuid.UUID             `json:"infrastructure_document_id"`
	EmpiricalPolicy          *apitype.FlowRunPolicy `json:"empirical_policy"`
	Tags                     []string               `json:"tags"`
	IdempotencyKey           *string                `json:"idempotency_key"`
	Labels                   map[string]any         `json:"labels"`
	ParentTaskRunID          *uuid.UUID             `json:"parent_task_run_id"`
	WorkQueueName            *string                `json:"work_queue_name"`
	JobVariables             json.RawMessage        `json:"job_variables"`
}

// runFailure is a create_flow_run refusal: the single endpoint answers it
// as an HTTP error, the bulk one reports its text.
type runFailure struct {
	err  *Error
	bulk string
}

// buildDeploymentRun is Prefect's create_flow_run_from_deployment up to the
// insert: parameters merged over the deployment's and checked against its
// schema when enforced, tags, labels, the work queue (a named one of the
// deployment's pool, created when missing).
func (a *app) buildDeploymentRun(ctx context.Context, d *apitype.Deployment, b *deploymentRunBody) (*apitype.FlowRun, *runFailure, error) {
	params := map[string]json.RawMessage{}
	if err := json.Unmarshal(d.Parameters, &params); err != nil || params == nil {
		params = map[string]json.RawMessage{}
	}
	if len(b.Parameters) > 0 && string(b.Parameters) != "null" {
		var over map[string]json.RawMessage
		if err := json.Unmarshal(b.Parameters, &over); err != nil {
			return nil, &runFailure{err: errValidation(nil, ValidationDetail{Loc: []any{"body", "parameters"},
				Type: "dict_type", Msg: "Input should be a valid dictionary"}), bulk: "parameters must be an object"}, nil
		}
		for k, v := range over {
			params[k] = v
		}
	}
	merged, err := json.Marshal(params)
	if err != nil {
		return nil, nil, fmt.Errorf("encode parameters: %w", err)
	}
	enforce := d.EnforceParameterSchema
	if b.EnforceParameterSchema != nil {
		enforce = *b.EnforceParameterSchema
	}
	if enforce {
		var schema map[string]any
		if json.Unmarshal(d.ParameterOpenAPISchema, &schema) != nil || schema == nil {
			return nil, &runFailure{err: errDetail(http.StatusConflict, "Error updating deployment: Cannot update parameters "+
				"because parameter schema enforcement is enabled and the deployment does not have a valid parameter schema."),
				bulk: "Parameter schema enforcement is enabled but deployment has no valid schema."}, nil
		}
		if reason := parameterError(string(d.ParameterOpenAPISchema), merged); reason != "" {
			return nil, &runFailure{err: errDetail(http.StatusConflict, "Error creating flow run: "+reason),
				bulk: "Parameter validation failed: " + reason}, nil
		}
	}
	run := &apitype.FlowRun{
		ID: uuid.Must(uuid.NewV7()), FlowID: d.FlowID, DeploymentID: &d.ID, DeploymentVersion: d.Version,
		Name: deref(b.Name), Parameters: merged, Context: b.Context, IdempotencyKey: b.IdempotencyKey,
		ParentTaskRunID: b.ParentTaskRunID, JobVariables: nullToNil(b.JobVariables),
		InfrastructureDocumentID: d.InfrastructureDocumentID, WorkQueueName: d.WorkQueueName, WorkQueueID: d.WorkQueueID,
		EmpiricalPolicy: apitype.FlowRunPolicy{PauseKeys: []string{}, Resuming: new(bool)},
	}
	if b.Name == nil {
		run.Name = generateSlug()
	}
	if b.InfrastructureDocumentID != nil {
		run.InfrastructureDocumentID = b.InfrastructureDocumentID
	}
	if b.EmpiricalPolicy != nil {
		run.EmpiricalPolicy = *b.EmpiricalPolicy
	}
	run.Tags = slices.Clone(d.Tags)
	for _, t := range b.Tags {
		if !slices.Contains(run.Tags, t) {
			run.Tags = append(run.Tags, t)
		}
	}
	// Labels: the deployment's, the system ones, then the caller's.
	run.Labels = map[string]any{}
	for k, v := range d.Labels {
		run.Labels[k] = v
	}
	run.Labels["prefect.flow.id"] = d.FlowID.String()
	run.Labels["prefect.deployment.id"] = d.ID.String()
	for k, v := range b.Labels {
		run.Labels[k] = v
	}
	if b.WorkQueueName != nil && *b.WorkQueueName != "" {
		if d.WorkPoolName == nil {
			msg := fmt.Sprintf("Cannot create flow run in work queue %s because deployment %s is not associated with a work pool. Please remove work_pool_name and try again.", *b.WorkQueueName, d.ID)
			return nil, &runFailure{err: errDetail(http.StatusBadRequest, msg), bulk: fmt.Sprintf(
				"Cannot create flow run in work queue %s because deployment is not associated with a work pool.", *b.WorkQueueName)}, nil
		}
		q, err := a.ensurePoolQueue(ctx, *d.WorkPoolName, *b.WorkQueueName)
		if err != nil {
			return nil, nil, err
		}
		run.WorkQueueID, run.WorkQueueName = &q.ID, &q.Name
	}
	return run, nil, nil
}

// ensurePoolQueue finds the pool's queue by name, creating it when missing.
func (a *app) ensurePoolQueue(ctx context.Context, pool, name string) (*apitype.WorkQueue, error) {
	now := a.now().UTC()
	q, err := a.store.WorkQueueGetByName(ctx, pool, name, now)
	if errors.Is(err, storage.ErrNotFound) {
		q, err = a.store.WorkQueueCreate(ctx, &storage.WorkQueueCreateParams{ID: uuid.New(), PoolName: pool, Name: name, Now: now})
		if errors.Is(err, storage.ErrConflict) { // created concurrently
			q, err = a.store.WorkQueueGetByName(ctx, pool, name, now)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("resolve work queue: %w", err)
	}
	return q, nil
}

// insertDeploymentRun creates the run with its initial state (SCHEDULED
// now by default) forced through orchestration, as flowRunCreate does.
func (a *app) insertDeploymentRun(r *http.Request, run *apitype.FlowRun, state *apitype.StateCreate) (*apitype.FlowRun, bool, error) {
	now := a.now().UTC()
	initial := &apitype.StateCreate{Type: apitype.StateTypeScheduled}
	if state != nil {
		initial = state
	}
	proposed, err := initial.ToState(uuid.Must(uuid.NewV7()), now)
	if err != nil {
		return nil, false, stateTypeError(nil, []any{"body", "state", "type"}, initial.Type)
	}
	apiVersion, clientVersion := requestVersions(r)
	var orch *runstate.Orchestrator
	fr, created, err := a.store.FlowRunCreate(r.Context(), &storage.FlowRunCreateParams{Run: *run, Now: now},
		func(ctx context.Context, tx storage.RunTx, id uuid.UUID) error {
			orch = a.machine.New(tx)
			_, err := orch.SetFlowRunState(ctx, id, runstate.Transition{Proposed: proposed, Force: true,
				APIVersion: apiVersion, ClientVersion: clientVersion})
			return err
		})
	if errors.Is(err, storage.ErrConflict) {
		return nil, false, errDetail(http.StatusConflict, integrityConflictDetail)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create flow run: %w", err)
	}
	if orch != nil {
		orch.Emit(r.Context())
	}
	return fr, created, nil
}

func (a *app) deploymentCreateFlowRun(w http.ResponseWriter, r *http.Request) error {
	var body deploymentRunBody
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	if err := a.checkParameters(raw, body.Parameters); err != nil {
		return err
	}
	if err := checkLabels(raw, body.Labels); err != nil {
		return err
	}
	d, err := a.deployment(r, errDeploymentNotFound)
	if err != nil {
		return err
	}
	run, fail, err := a.buildDeploymentRun(r.Context(), d, &body)
	if err != nil {
		return err
	}
	if fail != nil {
		return fail.err
	}
	fr, created, err := a.insertDeploymentRun(r, run, body.State)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a.fillWorkPools(r.Context(), fr)
	writeJSON(w, status, a.presentFlowRun(fr))
	return nil
}

func (a *app) deploymentCreateFlowRuns(w http.ResponseWriter, r *http.Request) error {
	var body []deploymentRunBody
	if _, err := decodeBody(r, &body, false); err != nil {
		return err
	}
	if len(body) > deploymentBulkCreateLimit {
		return errDetail(http.StatusBadRequest, fmt.Sprintf("Cannot create more than %d flow runs at once.", deploymentBulkCreateLimit))
	}
	d, err := a.deployment(r, errDeploymentNotFound)
	if err != nil {
		return err
	}
	type result struct {
		FlowRunID *uuid.UUID `json:"flow_run_id"`
		Status    string     `json:"status"`
		Error     *string    `json:"error"`
	}
	results := []result{}
	fail := func(msg string) { results = append(results, result{Status: "FAILED", Error: &msg}) }
	for i := range body {
		run, refused, err := a.buildDeploymentRun(r.Context(), d, &body[i])
		if err != nil {
			fail(err.Error())
			continue
		}
		if refused != nil {
			fail(refused.bulk)
			continue
		}
		fr, _, err := a.insertDeploymentRun(r, run, body[i].State)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				if m, ok := e.Body.(map[string]any); ok {
					fail(fmt.Sprint(m["detail"]))
					continue
				}
			}
			fail(err.Error())
			continue
		}
		results = append(results, result{FlowRunID: &fr.ID, Status: "CREATED"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
	return nil
}
