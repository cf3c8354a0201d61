package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// flowRunBulkDeleteLimit is Prefect's BULK_OPERATION_LIMIT.
const flowRunBulkDeleteLimit = 50

var errFlowRunNotFound = errDetail(http.StatusNotFound, "Flow run not found")

func (a *app) flowRunRoutes(route route) {
	route("POST", "/flow_runs/{$}", a.flowRunCreate)
	route("POST", "/flow_runs/filter", a.flowRunFilter)
	route("POST", "/flow_runs/count", a.flowRunCount)
	route("POST", "/flow_runs/paginate", a.flowRunPaginate)
	route("POST", "/flow_runs/history", a.flowRunHistory)
	route("POST", "/flow_runs/bulk_delete", a.flowRunBulkDelete)
	route("GET", "/flow_runs/{id}", a.flowRunGet)
	route("PATCH", "/flow_runs/{id}", a.flowRunUpdate)
	route("DELETE", "/flow_runs/{id}", a.flowRunDelete)
	route("PATCH", "/flow_runs/{id}/labels", a.flowRunLabels)
	route("POST", "/flow_runs/{id}/set_state", a.flowRunSetState)
	route("GET", "/flow_run_states/{$}", a.flowRunStates)
	route("GET", "/flow_run_states/{id}", a.flowRunStateGet)
}

// presentFlowRun fills Prefect's defaults and the estimates computed at read
// time.
func (a *app) presentFlowRun(fr *apitype.FlowRun) *apitype.FlowRun {
	if fr.Tags == nil {
		fr.Tags = []string{}
	}
	if fr.Labels == nil {
		fr.Labels = map[string]any{}
	}
	if len(fr.Parameters) == 0 {
		fr.Parameters = json.RawMessage(`{}`)
	}
	if len(fr.Context) == 0 {
		fr.Context = json.RawMessage(`{}`)
	}
	if fr.EmpiricalPolicy.PauseKeys == nil {
		fr.EmpiricalPolicy.PauseKeys = []string{}
	}
	if fr.EmpiricalPolicy.Resuming == nil {
		fr.EmpiricalPolicy.Resuming = new(bool)
	}
	now := a.now().UTC()
	r := runstate.FlowRunToRun(fr)
	fr.EstimatedRunTime = r.EstimatedRunTime(now).Seconds()
	fr.EstimatedStartTimeDelta = r.EstimatedStartTimeDelta(now).Seconds()
	return fr
}

func (a *app) flowRunCreate(w http.ResponseWriter, r *http.Request) error {
	var body apitype.FlowRunCreate
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.FlowID == nil {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "flow_id"}, Type: "missing",
			Msg: "Field required", Input: echoBody(raw)})
	}
	if err := a.checkParameters(raw, body.Parameters); err != nil {
		return err
	}
	if err := checkLabels(raw, body.Labels); err != nil {
		return err
	}
	if body.WorkPoolName != nil {
		// Work pools do not exist yet, so none can be found.
		return errDetail(http.StatusNotFound, fmt.Sprintf("Work pool %q not found.", *body.WorkPoolName))
	}
	now := a.now().UTC()
	initial := &apitype.StateCreate{Type: apitype.StateTypePending}
	if body.State != nil {
		initial = body.State
	}
	proposed, err := initial.ToState(uuid.Must(uuid.NewV7()), now)
	if err != nil {
		return stateTypeError(raw, []any{"body", "state", "type"}, initial.Type)
	}
	flow, err := a.store.FlowGet(r.Context(), *body.FlowID)
	if errors.Is(err, storage.ErrNotFound) {
		return errDetail(http.StatusConflict, integrityConflictDetail)
	}
	if err != nil {
		return fmt.Errorf("read flow: %w", err)
	}
	run := apitype.FlowRun{
		ID: uuid.Must(uuid.NewV7()), FlowID: flow.ID, Name: deref(body.Name), FlowVersion: body.FlowVersion,
		Parameters: body.Parameters, Context: body.Context, ParentTaskRunID: body.ParentTaskRunID,
		InfrastructureDocumentID: body.InfrastructureDocumentID, Tags: body.Tags, IdempotencyKey: body.IdempotencyKey,
		WorkQueueName: body.WorkQueueName, JobVariables: body.JobVariables, DeploymentID: body.DeploymentID,
		EmpiricalPolicy: apitype.FlowRunPolicy{PauseKeys: []string{}, Resuming: new(bool)},
	}
	if body.Name == nil {
		run.Name = generateSlug()
	}
	if body.EmpiricalPolicy != nil {
		run.EmpiricalPolicy = *body.EmpiricalPolicy
	}
	// Prefect's system labels: the flow's, then prefect.flow.id, then the caller's.
	run.Labels = map[string]any{}
	for k, v := range flow.Labels {
		run.Labels[k] = v
	}
	run.Labels["prefect.flow.id"] = flow.ID.String()
	for k, v := range body.Labels {
		run.Labels[k] = v
	}
	apiVersion, clientVersion := requestVersions(r)
	var orch *runstate.Orchestrator
	fr, created, err := a.store.FlowRunCreate(r.Context(), &storage.FlowRunCreateParams{Run: run, Now: now},
		func(ctx context.Context, tx storage.RunTx, id uuid.UUID) error {
			// As Prefect: the initial state is forced through the minimal policy.
			orch = a.machine.New(tx)
			_, err := orch.SetFlowRunState(ctx, id, runstate.Transition{Proposed: proposed, Force: true,
				APIVersion: apiVersion, ClientVersion: clientVersion})
			return err
		})
	if err != nil {
		return fmt.Errorf("create flow run: %w", err)
	}
	if orch != nil {
		orch.Emit(r.Context())
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a.fillWorkPools(r.Context(), fr)
	writeJSON(w, status, a.presentFlowRun(fr))
	return nil
}

// checkParameters enforces server.api.max_parameter_size on the size of the
// parameters as Python's json.dumps(..., separators=(",", ":")) writes them.
func (a *app) checkParameters(raw []byte, params json.RawMessage) error {
	max := a.settings.MaxParameterSize
	if max <= 0 || len(params) == 0 || string(params) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, params); err != nil {
		return nil // the decoder already rejected invalid JSON
	}
	size := 0
	for _, c := range buf.String() {
		switch {
		case c < utf8.RuneSelf:
			size++
		case c > 0xFFFF:
			size += 12 // a \uXXXX surrogate pair under ensure_ascii
		default:
			size += 6
		}
	}
	if size <= max || string(params) == "{}" {
		return nil
	}
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", "parameters"}, Type: "value_error", Input: echoBody(params),
		Msg: fmt.Sprintf("Value error, Flow run parameters must be less than %s bytes when serialized (got %s bytes).",
			thousands(max), thousands(size)),
		Ctx: map[string]any{"error": map[string]any{}},
	})
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// stateTypeError is pydantic's enum error on a state type.
func stateTypeError(raw []byte, loc []any, t apitype.StateType) error {
	expected := "'SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED', 'PAUSED' or 'CANCELLING'"
	return errValidation(echoBody(raw), ValidationDetail{Loc: loc, Type: "enum", Input: string(t),
		Msg: "Input should be " + expected, Ctx: map[string]any{"expected": expected}})
}

func (a *app) flowRunGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	fr, err := a.store.FlowRunGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunNotFound
	}
	if err != nil {
		return fmt.Errorf("read flow run: %w", err)
	}
	a.fillWorkPools(r.Context(), fr)
	writeJSON(w, http.StatusOK, a.presentFlowRun(fr))
	return nil
}

func (a *app) flowRunUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body apitype.FlowRunUpdate
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if err := a.checkParameters(raw, body.Parameters); err != nil {
		return err
	}
	if body.JobVariables != nil {
		// Prefect only lets a scheduled deployment run change them; there
		// are no deployments yet.
		return errDetail(http.StatusBadRequest, "A deployment for the flow run could not be found")
	}
	err = a.store.FlowRunUpdate(r.Context(), id, &body, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunNotFound
	}
	if err != nil {
		return fmt.Errorf("update flow run: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) flowRunLabels(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var labels map[string]any
	raw, err := decodeBody(r, &labels, false)
	if err != nil {
		return err
	}
	if err := checkLabels(raw, labels); err != nil {
		return err
	}
	err = a.store.FlowRunMergeLabels(r.Context(), id, labels, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Body: map[string]any{
			"exception_message": fmt.Sprintf("Flow run with id %s not found", id)}}
	}
	if err != nil {
		return fmt.Errorf("update flow run labels: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) flowRunDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	err = a.store.FlowRunDelete(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunNotFound
	}
	if err != nil {
		return fmt.Errorf("delete flow run: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) flowRunBulkDelete(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		FlowRuns *apitype.FlowRunFilter `json:"flow_runs"`
		Limit    *int                   `json:"limit"`
	}
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	limit := flowRunBulkDeleteLimit
	if body.Limit != nil {
		limit = *body.Limit
	}
	if err := checkMin(raw, "limit", limit, 1); err != nil {
		return err
	}
	if err := checkMax(raw, "limit", limit, flowRunBulkDeleteLimit); err != nil {
		return err
	}
	ids, err := a.store.FlowRunDeleteMany(r.Context(), &storage.RunQuery{FlowRuns: body.FlowRuns}, limit)
	if err != nil {
		return fmt.Errorf("bulk delete flow runs: %w", err)
	}
	writeJSON(w, http.StatusOK, apitype.FlowRunBulkDeleteResponse{Deleted: ids})
	return nil
}

func (a *app) flowRunSetState(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	t, start, err := a.decodeSetState(r)
	if err != nil {
		return err
	}
	var (
		res  *apitype.OrchestrationResult
		orch *runstate.Orchestrator
	)
	err = a.store.FlowRunOrchestrate(r.Context(), id, func(ctx context.Context, tx storage.RunTx) error {
		orch = a.machine.New(tx)
		res, err = orch.SetFlowRunState(ctx, id, t)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Body: map[string]any{
			"exception_message": fmt.Sprintf("Flow run with id %s not found", id)}}
	}
	if err != nil {
		return fmt.Errorf("set flow run state: %w", err)
	}
	orch.Emit(r.Context())
	writeJSON(w, setStateStatus(res, start), res)
	return nil
}

// setStateStatus is 201 when a new state was written, as Prefect decides it.
func setStateStatus(res *apitype.OrchestrationResult, start time.Time) int {
	if orchestration.CreatedNewState(*res, start) {
		return http.StatusCreated
	}
	return http.StatusOK
}

// decodeSetState reads a set_state body into a proposed state stamped now.
func (a *app) decodeSetState(r *http.Request) (runstate.Transition, time.Time, error) {
	var body struct {
		State *apitype.StateCreate `json:"state"`
		Force *bool                `json:"force"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return runstate.Transition{}, time.Time{}, err
	}
	if body.State == nil {
		return runstate.Transition{}, time.Time{}, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "state"},
			Type: "missing", Msg: "Field required", Input: echoBody(raw)})
	}
	start := a.now().UTC().Truncate(time.Microsecond)
	proposed, err := body.State.ToState(uuid.Must(uuid.NewV7()), start)
	if err != nil {
		return runstate.Transition{}, time.Time{}, stateTypeError(raw, []any{"body", "state", "type"}, body.State.Type)
	}
	t := runstate.Transition{Proposed: proposed, Force: deref(body.Force)}
	t.APIVersion, t.ClientVersion = requestVersions(r)
	return t, start, nil
}

// generateSlug names a run like Prefect's generate_slug(2): adjective-animal.
func generateSlug() string {
	return slugAdjectives[rand.IntN(len(slugAdjectives))] + "-" + slugAnimals[rand.IntN(len(slugAnimals))]
}

var slugAdjectives = []string{"amber", "brave", "calm", "daring", "eager", "fancy", "gentle", "happy", "icy", "jolly",
	"keen", "lively", "mellow", "nimble", "olive", "proud", "quick", "rustic", "silver", "tidy", "urban", "vivid",
	"witty", "young", "zealous", "bold", "cosmic", "dapper", "elegant", "fuzzy"}

var slugAnimals = []string{"otter", "badger", "heron", "lynx", "marmot", "newt", "owl", "panda", "quail", "raven",
	"salmon", "tapir", "urchin", "vole", "walrus", "yak", "zebra", "alpaca", "bison", "crane", "dingo", "egret",
	"falcon", "gecko", "hare", "ibis", "jackal", "koala", "lemur", "moose"}

// presentFlowRuns presents every run of a list response in place (with its
// work pool) and returns the same slice.
func (a *app) presentFlowRuns(ctx context.Context, runs []apitype.FlowRun) []apitype.FlowRun {
	ptrs := make([]*apitype.FlowRun, len(runs))
	for i := range runs {
		ptrs[i] = a.presentFlowRun(&runs[i])
	}
	a.fillWorkPools(ctx, ptrs...)
	return runs
}

// fillWorkPools sets work_pool_id and work_pool_name, which Prefect derives
// from the run's work queue: one queue read per distinct queue.
func (a *app) fillWorkPools(ctx context.Context, runs ...*apitype.FlowRun) {
	now := a.now().UTC()
	queues := map[uuid.UUID]*apitype.WorkQueue{}
	for _, fr := range runs {
		if fr.WorkQueueID == nil {
			continue
		}
		q, seen := queues[*fr.WorkQueueID]
		if !seen {
			q, _ = a.store.WorkQueueGet(ctx, *fr.WorkQueueID, now) // deleted queue: no pool
			queues[*fr.WorkQueueID] = q
		}
		if q != nil {
			id, name := q.WorkPoolID, q.WorkPoolName
			fr.WorkPoolID, fr.WorkPoolName = &id, &name
		}
	}
}
