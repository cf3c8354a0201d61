package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/storage"
)

// flowRunExtraRoutes lists the flow run routes beyond CRUD and set_state:
// run input and resume (this file), the graph (flow_run_graph.go), bulk
// state changes (flow_run_bulk.go) and the logs download (flow_run_logs.go).
func (a *app) flowRunExtraRoutes(route route) {
	route("POST", "/flow_runs/{id}/input", a.flowRunInputCreate)
	route("POST", "/flow_runs/{id}/input/filter", a.flowRunInputFilter)
	route("GET", "/flow_runs/{id}/input/{key}", a.flowRunInputGet)
	route("DELETE", "/flow_runs/{id}/input/{key}", a.flowRunInputDelete)
	route("POST", "/flow_runs/{id}/resume", a.flowRunResume)
	route("GET", "/flow_runs/{id}/graph-v2", a.flowRunGraph)
	route("POST", "/flow_runs/bulk_set_state", a.flowRunBulkSetState)
	route("GET", "/flow_runs/{id}/logs/download", a.flowRunLogsDownload)
}

var errFlowRunInputNotFound = errDetail(http.StatusNotFound, "Flow run input not found")

// inputKeyRE is Prefect's LOWERCASE_LETTERS_NUMBERS_AND_DASHES_ONLY_REGEX,
// which FlowRunInput.key must match.
var inputKeyRE = regexp.MustCompile(`^[a-z0-9-]*$`)

func (a *app) flowRunInputCreate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Key    *string `json:"key"`
		Value  *string `json:"value"`
		Sender *string `json:"sender"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	var details []ValidationDetail
	for _, f := range []struct {
		name string
		v    *string
	}{{"key", body.Key}, {"value", body.Value}} {
		if f.v == nil {
			details = append(details, ValidationDetail{Loc: []any{"body", f.name}, Type: "missing",
				Msg: "Field required", Input: echoBody(raw)})
		}
	}
	if len(details) > 0 {
		return errValidation(echoBody(raw), details...)
	}
	// Prefect validates the key only when it builds the row (its handler then
	// fails with a 500); Warden answers the 422 it means.
	if !inputKeyRE.MatchString(*body.Key) {
		msg := "value must only contain lowercase letters, numbers, and dashes."
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "key"}, Type: "value_error",
			Msg: "Value error, " + msg, Input: *body.Key, Ctx: map[string]any{"error": map[string]any{}}})
	}
	// PostgreSQL text cannot hold NUL; refuse it on both engines alike.
	if strings.ContainsRune(*body.Value, 0) || (body.Sender != nil && strings.ContainsRune(*body.Sender, 0)) {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "value"}, Type: "string_type",
			Msg: "Value error, NUL characters are not allowed", Input: *body.Value})
	}
	now := a.now().UTC()
	err = a.store.FlowRunInputCreate(r.Context(), &apitype.FlowRunInput{ID: uuid.Must(uuid.NewV7()), Created: now,
		Updated: now, FlowRunID: id, Key: *body.Key, Value: *body.Value, Sender: body.Sender})
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errDetail(http.StatusConflict, "A flow run input with this key already exists.")
	case errors.Is(err, storage.ErrNotFound):
		return errFlowRunNotFound
	case err != nil:
		return fmt.Errorf("create flow run input: %w", err)
	}
	writeJSON(w, http.StatusCreated, nil)
	return nil
}

func (a *app) flowRunInputFilter(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Prefix      *string  `json:"prefix"`
		Limit       *int     `json:"limit"`
		ExcludeKeys []string `json:"exclude_keys"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.Prefix == nil {
		return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "prefix"}, Type: "missing",
			Msg: "Field required", Input: echoBody(raw)})
	}
	limit := 1
	if body.Limit != nil {
		limit = *body.Limit
	}
	// Prefect does not bound limit; a negative one means "no limit" on
	// SQLite and fails on PostgreSQL. Warden takes SQLite's reading.
	limit = max(limit, -1)
	inputs, err := a.store.FlowRunInputFilter(r.Context(), &storage.FlowRunInputFilterParams{
		FlowRunID: id, Prefix: *body.Prefix, ExcludeKeys: body.ExcludeKeys, Limit: limit})
	if err != nil {
		return fmt.Errorf("filter flow run inputs: %w", err)
	}
	writeJSON(w, http.StatusOK, inputs)
	return nil
}

func (a *app) flowRunInputGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	in, err := a.store.FlowRunInputGet(r.Context(), id, r.PathValue("key"))
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunInputNotFound
	}
	if err != nil {
		return fmt.Errorf("read flow run input: %w", err)
	}
	// Prefect answers the stored text as is (PlainTextResponse).
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(in.Value))
	return nil
}

func (a *app) flowRunInputDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	err = a.store.FlowRunInputDelete(r.Context(), id, r.PathValue("key"))
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunInputNotFound
	}
	if err != nil {
		return fmt.Errorf("delete flow run input: %w", err)
	}
	writeNoContent(w)
	return nil
}

// flowRunResume is POST /flow_runs/{id}/resume. A run waiting for input
// (run_input_keyset in its PAUSED state) resumes only with run_input that
// validates against the schema stored under the keyset's "schema" key; the
// input is stored under its "response" key if, and only if, the transition
// is accepted. All of it is one transaction.
func (a *app) flowRunResume(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		RunInput json.RawMessage `json:"run_input"`
	}
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return err
	}
	var runInput map[string]any
	if present(body.RunInput) {
		if err := json.Unmarshal(body.RunInput, &runInput); err != nil {
			return errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", "run_input"}, Type: "dict_type",
				Msg: "Input should be a valid dictionary", Input: echoBody(body.RunInput)})
		}
	}
	start := a.now().UTC().Truncate(time.Microsecond)
	apiVersion, clientVersion := requestVersions(r)
	var (
		res  *apitype.OrchestrationResult
		orch *runstate.Orchestrator
	)
	err = a.store.FlowRunOrchestrate(r.Context(), id, func(ctx context.Context, tx storage.RunTx) error {
		orch = a.machine.New(tx)
		res, err = resumeFlowRun(ctx, orch, id, body.RunInput, len(runInput) > 0, runstate.Transition{APIVersion: apiVersion, ClientVersion: clientVersion})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return errFlowRunNotFound
	}
	if err != nil {
		return fmt.Errorf("resume flow run: %w", err)
	}
	orch.Emit(r.Context())
	status := http.StatusOK
	if res.State != nil && !res.State.Timestamp.Before(start) {
		status = http.StatusCreated
	}
	writeJSON(w, status, res)
	return nil
}

// resumeFlowRun runs Prefect's resume inside the run's transaction; t carries the
// request versions. rawInput is the run_input as sent; hasInput is Python's
// truthiness of it (a non-empty object).
func resumeFlowRun(ctx context.Context, o *runstate.Orchestrator, id uuid.UUID, rawInput json.RawMessage, hasInput bool, t runstate.Transition) (*apitype.OrchestrationResult, error) {
	fr, err := o.Tx().FlowRun(ctx, id)
	if err != nil {
		return nil, err
	}
	state := fr.State
	if state == nil || state.Type != apitype.StateTypePaused {
		return &apitype.OrchestrationResult{Status: apitype.SetStateStatusAbort,
			Details: apitype.AbortDetails("Cannot resume a flow run that is not paused.")}, nil
	}
	itx, ok := o.Tx().(storage.FlowRunInputTx)
	if !ok {
		return nil, fmt.Errorf("%w: run input in %T", runstate.ErrUnsupportedEffect, o.Tx())
	}
	keyset := state.StateDetails.RunInputKeyset
	reject := func(reason string) (*apitype.OrchestrationResult, error) {
		return &apitype.OrchestrationResult{State: state, Status: apitype.SetStateStatusReject,
			Details: apitype.AbortDetails(reason)}, nil
	}
	if len(keyset) > 0 {
		input := rawInput
		if !hasInput {
			input = json.RawMessage(`{}`)
		}
		stored, err := itx.FlowRunInput(ctx, id, keyset["schema"])
		if errors.Is(err, storage.ErrNotFound) {
			return reject("Run input schema not found.")
		}
		if err != nil {
			return nil, err
		}
		if reason := validateRunInput(stored.Value, input); reason != "" {
			return reject(reason)
		}
	}
	var proposed *apitype.State
	if state.StateDetails.PauseReschedule {
		name := "Resuming"
		proposed, err = apitype.StateCreate{Type: apitype.StateTypeScheduled, Name: &name}.ToState(uuid.Must(uuid.NewV7()), o.Now())
	} else {
		proposed, err = apitype.StateCreate{Type: apitype.StateTypeRunning}.ToState(uuid.Must(uuid.NewV7()), o.Now())
	}
	if err != nil {
		return nil, err
	}
	t.Proposed = proposed
	res, err := o.SetFlowRunState(ctx, id, t)
	if err != nil {
		return nil, err
	}
	if len(keyset) > 0 && hasInput && res.Status == apitype.SetStateStatusAccept {
		var compact bytes.Buffer
		if err := json.Compact(&compact, rawInput); err != nil {
			return nil, err
		}
		err := itx.CreateFlowRunInput(ctx, &apitype.FlowRunInput{ID: uuid.Must(uuid.NewV7()), Created: o.Now(),
			Updated: o.Now(), FlowRunID: id, Key: keyset["response"], Value: compact.String()})
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}
