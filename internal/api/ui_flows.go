package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// uiRoutes registers the read endpoints the UI's list, detail and
// dashboard pages poll (Prefect's api/ui routers).
func (a *app) uiRoutes(route route) {
	route("POST", "/ui/flows/count-deployments", a.uiFlowCountDeployments)
	route("POST", "/ui/flows/next-runs", a.uiFlowNextRuns)
	route("POST", "/ui/flow_runs/history", a.uiFlowRunHistory)
	route("POST", "/ui/flow_runs/count-task-runs", a.uiFlowRunCountTaskRuns)
	route("POST", "/ui/task_runs/dashboard/counts", a.uiTaskRunDashboardCounts)
	route("POST", "/ui/task_runs/count", a.uiTaskRunCountByState)
	route("GET", "/ui/task_runs/{id}", a.uiTaskRunGet)
}

// maxUIIDs is Prefect's max_length on the id lists of the /ui endpoints.
const maxUIIDs = 200

// decodeIDList reads the required list of UUIDs under field of a JSON
// object body, with pydantic's errors (a null counts as missing, as in
// FastAPI).
func decodeIDList(r *http.Request, field string) ([]uuid.UUID, error) {
	var body map[string]json.RawMessage
	raw, err := decodeBody(r, &body, true)
	if err != nil {
		return nil, err
	}
	v, ok := body[field]
	if !ok || !present(v) {
		return nil, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", field}, Type: "missing", Msg: "Field required"})
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return nil, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", field}, Type: "list_type",
			Msg: "Input should be a valid list", Input: echoBody(v)})
	}
	ids := make([]uuid.UUID, 0, len(items))
	var bad []ValidationDetail
	for i, it := range items {
		var s string
		if json.Unmarshal(it, &s) != nil {
			bad = append(bad, ValidationDetail{Loc: []any{"body", field, i}, Type: "uuid_type",
				Msg: "UUID input should be a string, bytes or UUID object", Input: echoBody(it)})
			continue
		}
		id, err := uuid.Parse(s)
		if err != nil {
			bad = append(bad, ValidationDetail{Loc: []any{"body", field, i}, Type: "uuid_parsing", Input: s,
				Msg: "Input should be a valid UUID, unable to parse string as an UUID"})
			continue
		}
		ids = append(ids, id)
	}
	if len(bad) > 0 {
		return nil, errValidation(echoBody(raw), bad...)
	}
	if len(ids) > maxUIIDs {
		return nil, errValidation(echoBody(raw), ValidationDetail{Loc: []any{"body", field}, Type: "too_long", Input: echoBody(v),
			Msg: fmt.Sprintf("List should have at most %d items after validation, not %d", maxUIIDs, len(ids)),
			Ctx: map[string]any{"field_type": "List", "max_length": maxUIIDs, "actual_length": len(ids)}})
	}
	return ids, nil
}

// writeIDMap answers {id: value} with the keys in request order, each once,
// as Prefect's dict comprehension over the request list does.
func writeIDMap[T any](w http.ResponseWriter, ids []uuid.UUID, value func(uuid.UUID) T) error {
	var buf bytes.Buffer
	buf.WriteByte('{')
	seen := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		if len(seen) > 0 {
			buf.WriteByte(',')
		}
		seen[id] = true
		b, err := json.Marshal(value(id))
		if err != nil {
			return fmt.Errorf("encode %s: %w", id, err)
		}
		buf.WriteString(`"` + id.String() + `":`)
		buf.Write(b)
	}
	buf.WriteByte('}')
	writeJSON(w, http.StatusOK, json.RawMessage(buf.Bytes()))
	return nil
}

// uiFlowCountDeployments counts each flow's deployments.
func (a *app) uiFlowCountDeployments(w http.ResponseWriter, r *http.Request) error {
	ids, err := decodeIDList(r, "flow_ids")
	if err != nil {
		return err
	}
	counts := make(map[uuid.UUID]int64, len(ids))
	for _, id := range ids {
		if _, done := counts[id]; done {
			continue
		}
		n, err := a.store.DeploymentCount(r.Context(), &storage.DeploymentQuery{
			Deployments: &apitype.DeploymentFilter{}, Flows: &apitype.FlowFilter{ID: &apitype.FilterID{Any: []uuid.UUID{id}}}})
		if err != nil {
			return fmt.Errorf("count deployments: %w", err)
		}
		counts[id] = n
	}
	return writeIDMap(w, ids, func(id uuid.UUID) int64 { return counts[id] })
}

func (a *app) uiFlowNextRuns(w http.ResponseWriter, r *http.Request) error {
	ids, err := decodeIDList(r, "flow_ids")
	if err != nil {
		return err
	}
	next, err := a.store.NextScheduledFlowRuns(r.Context(), ids)
	if err != nil {
		return fmt.Errorf("read next flow runs: %w", err)
	}
	return writeIDMap(w, ids, func(id uuid.UUID) *apitype.SimpleNextFlowRun {
		n, ok := next[id]
		if !ok {
			return nil
		}
		return &apitype.SimpleNextFlowRun{ID: n.ID, FlowID: n.FlowID, Name: n.Name, StateName: n.StateName,
			StateType: n.StateType, NextScheduledStartTime: n.NextScheduledStartTime}
	})
}
