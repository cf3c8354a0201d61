package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// flowRunBulkSetState is POST /flow_runs/bulk_set_state: up to limit (1-50)
// matching runs, newest id first, each orchestrated in its own transaction
// with a state built for it. A run that cannot be orchestrated (deleted
// meanwhile, a storage failure) gets an ABORT result and the rest go on, as
// in Prefect.
func (a *app) flowRunBulkSetState(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		FlowRuns *apitype.FlowRunFilter `json:"flow_runs"`
		State    *apitype.StateCreate   `json:"state"`
		Force    *bool                  `json:"force"`
		Limit    *int                   `json:"limit"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.State == nil {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "state"}, Type: "missing",
			Msg: "Field required", Input: echoBody(raw)})
	}
	if !body.State.Type.Valid() {
		return stateTypeError(raw, []any{"body", "state", "type"}, body.State.Type)
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
	runs, err := a.store.FlowRunList(r.Context(), &storage.RunListParams{
		RunQuery: storage.RunQuery{FlowRuns: body.FlowRuns}, Sort: apitype.FlowRunSortIDDesc, Limit: limit})
	if err != nil {
		return fmt.Errorf("list flow runs: %w", err)
	}
	apiVersion, clientVersion := requestVersions(r)
	resp := apitype.FlowRunBulkSetStateResponse{Results: []apitype.FlowRunOrchestrationResult{}}
	for _, fr := range runs {
		res := a.bulkSetOne(r.Context(), fr.ID, *body.State, runstate.Transition{Force: deref(body.Force),
			APIVersion: apiVersion, ClientVersion: clientVersion})
		resp.Results = append(resp.Results, res)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// bulkSetOne orchestrates one run of a bulk state change.
func (a *app) bulkSetOne(ctx context.Context, id uuid.UUID, sc apitype.StateCreate, t runstate.Transition) apitype.FlowRunOrchestrationResult {
	abort := func(reason string) apitype.FlowRunOrchestrationResult {
		return apitype.FlowRunOrchestrationResult{FlowRunID: id, Status: apitype.SetStateStatusAbort,
			Details: apitype.AbortDetails(reason)}
	}
	proposed, err := sc.ToState(uuid.Must(uuid.NewV7()), a.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return abort(err.Error())
	}
	t.Proposed = proposed
	var (
		res  *apitype.OrchestrationResult
		orch *runstate.Orchestrator
	)
	err = a.store.FlowRunOrchestrate(ctx, id, func(ctx context.Context, tx storage.RunTx) error {
		orch = a.machine.New(tx)
		res, err = orch.SetFlowRunState(ctx, id, t)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return abort(fmt.Sprintf("Flow run with id %s not found", id))
	}
	if err != nil {
		a.logger.Warn("bulk set state failed for a flow run", slog.String("flow_run_id", id.String()), slog.Any("err", err))
		return abort("Failed to set the flow run state.")
	}
	orch.Emit(ctx)
	return apitype.FlowRunOrchestrationResult{FlowRunID: id, Status: res.Status, State: res.State, Details: res.Details}
}
