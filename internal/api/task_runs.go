package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

var errTaskRunNotFound = errDetail(http.StatusNotFound, "Task run not found")

func (a *app) taskRunRoutes(route route) {
	route("POST", "/task_runs/{$}", a.taskRunCreate)
	route("POST", "/task_runs/filter", a.taskRunFilter)
	route("POST", "/task_runs/count", a.taskRunCount)
	route("POST", "/task_runs/paginate", a.taskRunPaginate)
	route("POST", "/task_runs/history", a.taskRunHistory)
	route("GET", "/task_runs/{id}", a.taskRunGet)
	route("PATCH", "/task_runs/{id}", a.taskRunUpdate)
	route("DELETE", "/task_runs/{id}", a.taskRunDelete)
	route("POST", "/task_runs/{id}/set_state", a.taskRunSetState)
	route("GET", "/task_run_states/{$}", a.taskRunStates)
	route("GET", "/task_run_states/{id}", a.taskRunStateGet)
}

// taskRunSorts are the sorts the task run reads accept.
var taskRunSorts = apitype.TaskRunSorts

func (a *app) presentTaskRun(tr *apitype.TaskRun) *apitype.TaskRun {
	if tr.Tags == nil {
		tr.Tags = []string{}
	}
	if tr.Labels == nil {
		tr.Labels = map[string]any{}
	}
	if tr.TaskInputs == nil {
		tr.TaskInputs = map[string][]apitype.TaskRunInput{}
	}
	now := a.now().UTC()
	r := runstate.TaskRunToRun(tr)
	tr.EstimatedRunTime = r.EstimatedRunTime(now).Seconds()
	tr.EstimatedStartTimeDelta = r.EstimatedStartTimeDelta(now).Seconds()
	return tr
}

func (a *app) taskRunCreate(w http.ResponseWriter, r *http.Request) error {
	var body apitype.TaskRunCreate
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	var missing []ValidationDetail
	if body.TaskKey == nil {
		missing = append(missing, ValidationDetail{Loc: []any{"body", "task_key"}, Type: "missing", Msg: "Field required", Input: echoBody(raw)})
	}
	if body.DynamicKey == nil {
		missing = append(missing, ValidationDetail{Loc: []any{"body", "dynamic_key"}, Type: "missing", Msg: "Field required", Input: echoBody(raw)})
	}
	if len(missing) > 0 {
		return errValidation(echoBody(raw), missing...)
	}
	if err := checkLabels(raw, body.Labels); err != nil {
		return err
	}
	now := a.now().UTC()
	var proposed *apitype.State
	if body.State != nil {
		if proposed, err = body.State.ToState(uuid.Must(uuid.NewV7()), now); err != nil {
			return stateTypeError(raw, []any{"body", "state", "type"}, body.State.Type)
		}
	}
	run := apitype.TaskRun{
		ID: uuid.Must(uuid.NewV7()), Name: deref(body.Name), FlowRunID: body.FlowRunID, TaskKey: *body.TaskKey,
		DynamicKey: *body.DynamicKey, CacheKey: body.CacheKey, CacheExpiration: body.CacheExpiration,
		TaskVersion: body.TaskVersion, Tags: body.Tags, TaskInputs: body.TaskInputs,
	}
	if body.ID != nil {
		run.ID = *body.ID
	}
	if body.Name == nil {
		run.Name = generateSlug()
	}
	if body.EmpiricalPolicy != nil {
		run.EmpiricalPolicy = *body.EmpiricalPolicy
	}
	// Prefect's system labels: the flow run's, then prefect.flow-run.id,
	// then the caller's.
	run.Labels = map[string]any{}
	if body.FlowRunID != nil {
		fr, err := a.store.FlowRunGet(r.Context(), *body.FlowRunID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return errDetail(http.StatusConflict, integrityConflictDetail)
		case err != nil:
			return fmt.Errorf("read flow run: %w", err)
		}
		for k, v := range fr.Labels {
			run.Labels[k] = v
		}
		run.Labels["prefect.flow-run.id"] = body.FlowRunID.String()
	}
	for k, v := range body.Labels {
		run.Labels[k] = v
	}
	var (
		init storage.RunInit
		orch *runstate.Orchestrator
	)
	if proposed != nil {
		apiVersion, clientVersion := requestVersions(r)
		init = func(ctx context.Context, tx storage.RunTx, id uuid.UUID) error {
			orch = a.machine.New(tx)
			_, err := orch.SetTaskRunState(ctx, id, runstate.Transition{Proposed: proposed, Force: true,
				APIVersion: apiVersion, ClientVersion: clientVersion})
			return err
		}
	}
	tr, created, err := a.store.TaskRunCreate(r.Context(), &storage.TaskRunCreateParams{Run: run, Now: now}, init)
	if err != nil {
		return fmt.Errorf("create task run: %w", err)
	}
	if orch != nil {
		orch.Emit(r.Context())
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, a.presentTaskRun(tr))
	return nil
}

func (a *app) taskRunGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	tr, err := a.store.TaskRunGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errTaskRunNotFound
	}
	if err != nil {
		return fmt.Errorf("read task run: %w", err)
	}
	writeJSON(w, http.StatusOK, a.presentTaskRun(tr))
	return nil
}

func (a *app) taskRunUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body apitype.TaskRunUpdate
	if _, err := decodeBody(r, &body, false); err != nil {
		return err
	}
	err = a.store.TaskRunUpdate(r.Context(), id, &body, a.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return errTaskRunNotFound
	}
	if err != nil {
		return fmt.Errorf("update task run: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) taskRunDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	err = a.store.TaskRunDelete(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errTaskRunNotFound
	}
	if err != nil {
		return fmt.Errorf("delete task run: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) taskRunSetState(w http.ResponseWriter, r *http.Request) error {
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
	err = a.store.TaskRunOrchestrate(r.Context(), id, func(ctx context.Context, tx storage.RunTx) error {
		orch = a.machine.New(tx)
		res, err = orch.SetTaskRunState(ctx, id, t)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Body: map[string]any{
			"exception_message": fmt.Sprintf("Task run with id %s not found", id)}}
	}
	if err != nil {
		return fmt.Errorf("set task run state: %w", err)
	}
	orch.Emit(r.Context())
	writeJSON(w, setStateStatus(res, start), res)
	return nil
}

func (a *app) taskRunFilter(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeRunQuery(r, "task runs", taskRunSorts)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	out := []*apitype.TaskRun{}
	if !win.empty() {
		runs, err := a.store.TaskRunList(r.Context(), &storage.RunListParams{RunQuery: *q.storage(), Sort: q.sort(),
			Limit: win.limit, Offset: win.offset})
		if err != nil {
			return fmt.Errorf("list task runs: %w", err)
		}
		for i := range runs {
			out = append(out, a.presentTaskRun(&runs[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) taskRunCount(w http.ResponseWriter, r *http.Request) error {
	q, _, err := decodeRunQuery(r, "task runs", taskRunSorts)
	if err != nil {
		return err
	}
	n, err := a.store.TaskRunCount(r.Context(), q.storage())
	if err != nil {
		return fmt.Errorf("count task runs: %w", err)
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (a *app) taskRunPaginate(w http.ResponseWriter, r *http.Request) error {
	q, raw, err := decodeRunQuery(r, "task runs", taskRunSorts)
	if err != nil {
		return err
	}
	win, page, err := a.pageWindow(raw, q.Limit, q.Page)
	if err != nil {
		return err
	}
	resp := apitype.TaskRunPaginationResponse{Results: []apitype.TaskRun{}, Limit: win.limit, Page: page}
	if !win.empty() {
		runs, err := a.store.TaskRunList(r.Context(), &storage.RunListParams{RunQuery: *q.storage(), Sort: q.sort(),
			Limit: win.limit, Offset: win.offset})
		if err != nil {
			return fmt.Errorf("list task runs: %w", err)
		}
		for i := range runs {
			resp.Results = append(resp.Results, *a.presentTaskRun(&runs[i]))
		}
	}
	if resp.Count, err = a.store.TaskRunCount(r.Context(), q.storage()); err != nil {
		return fmt.Errorf("count task runs: %w", err)
	}
	resp.Pages = pages(resp.Count, win.limit)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *app) taskRunHistory(w http.ResponseWriter, r *http.Request) error {
	return a.runHistory(w, r, "task runs", taskRunSorts, func(q *storage.RunQuery, start, end time.Time) ([]storage.HistoryRun, error) {
		return a.store.TaskRunHistory(r.Context(), q, start, end)
	})
}
