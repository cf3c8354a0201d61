package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// The graph of a flow run (GET /flow_runs/{id}/graph-v2), built as Prefect's
// flow_run_graph_v2 query builds it: one node per task run of the run that
// has a start or expected start time (a task run tracking a subflow becomes
// the subflow's "flow-run" node), edges from the task inputs that reference
// other nodes ("__parents__" inputs are encapsulating edges), the run's
// artifacts (result artifacts excluded) and its states.

// graphDefaultMax is the default of server.flow_run_graph.max_nodes and
// max_artifacts, for settings built without the loader.
const graphDefaultMax = 10000

// graphNode is a node with what ordering and edge building need.
type graphNode struct {
	apitype.GraphNode
	task    *apitype.TaskRun
	parents []uuid.UUID // node ids from non-encapsulating inputs, with repeats as Prefect
	encaps  []uuid.UUID
}

func (a *app) flowRunGraph(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	since := time.Time{}
	if s := r.URL.Query().Get("since"); r.URL.Query().Has("since") {
		t, ok := parseTimestamp(s)
		if !ok {
			return errValidation(nil, ValidationDetail{Loc: []any{"query", "since"}, Type: "datetime_from_date_parsing",
				Msg: "Input should be a valid datetime or date, invalid character in year", Input: s,
				Ctx: map[string]any{"error": "invalid character in year"}})
		}
		since = t
	}
	ctx := r.Context()
	fr, err := a.store.FlowRunGet(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Body: map[string]any{"exception_message": fmt.Sprintf("Flow run %s not found", id)}}
	}
	if err != nil {
		return fmt.Errorf("read flow run: %w", err)
	}
	nodes, err := a.graphNodes(r, id)
	if err != nil {
		return err
	}
	artifacts, err := a.graphArtifacts(r, id)
	if err != nil {
		return err
	}
	maxNodes := cmp.Or(a.settings.FlowRunGraphMaxNodes, graphDefaultMax)
	out := []apitype.GraphNodePair{}
	roots := []uuid.UUID{}
	for _, n := range nodes {
		if n.EndTime != nil && n.EndTime.Before(since) {
			continue
		}
		if len(out) == maxNodes {
			return errDetail(http.StatusBadRequest, fmt.Sprintf("The graph of flow run %s has more than %d nodes.", id, maxNodes))
		}
		if len(n.Parents) == 0 {
			roots = append(roots, n.ID)
		}
		// Prefect joins artifacts on the node id, so a subflow node (whose
		// id is the subflow's) shows none.
		if arts := artifacts[n.ID]; n.Kind == "task-run" && len(arts) > 0 {
			n.Artifacts = arts
		}
		out = append(out, apitype.GraphNodePair{ID: n.ID, Node: n.GraphNode})
	}
	flowArts := artifacts[uuid.Nil]
	if flowArts == nil {
		flowArts = []apitype.GraphArtifact{}
	}
	states, err := a.store.FlowRunStates(ctx, id)
	if err != nil {
		return fmt.Errorf("read flow run states: %w", err)
	}
	g := apitype.Graph{StartTime: cmp.Or(fr.StartTime, fr.ExpectedStartTime), EndTime: fr.EndTime,
		RootNodeIDs: roots, Nodes: out, Artifacts: flowArts,
		States: make([]apitype.GraphState, 0, len(states))}
	for _, s := range states {
		g.States = append(g.States, apitype.GraphState{ID: s.ID, Timestamp: s.Timestamp, Type: s.Type, Name: s.Name})
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

// graphNodes loads the run's nodes with their edges, ordered by start time
// then end time (unset last) then id.
func (a *app) graphNodes(r *http.Request, id uuid.UUID) ([]*graphNode, error) {
	ctx := r.Context()
	tasks, err := a.store.TaskRunList(ctx, &storage.RunListParams{RunQuery: storage.RunQuery{
		TaskRuns: &apitype.TaskRunFilter{FlowRunID: &apitype.FilterOptionalID{Any: []uuid.UUID{id}}}}})
	if err != nil {
		return nil, fmt.Errorf("list task runs: %w", err)
	}
	subflows := map[uuid.UUID]*apitype.FlowRun{}
	flowNames := map[uuid.UUID]string{}
	if len(tasks) > 0 {
		ids := make([]uuid.UUID, len(tasks))
		for i := range tasks {
			ids[i] = tasks[i].ID
		}
		subs, err := a.store.FlowRunList(ctx, &storage.RunListParams{RunQuery: storage.RunQuery{
			FlowRuns: &apitype.FlowRunFilter{ParentTaskRunID: &apitype.FilterOptionalID{Any: ids}}}})
		if err != nil {
			return nil, fmt.Errorf("list subflow runs: %w", err)
		}
		var flowIDs []uuid.UUID
		for i := range subs {
			subflows[*subs[i].ParentTaskRunID] = &subs[i]
			flowIDs = append(flowIDs, subs[i].FlowID)
		}
		if len(flowIDs) > 0 {
			flows, err := a.store.FlowList(ctx, &storage.FlowListParams{FlowQuery: storage.FlowQuery{Flows: &apitype.FlowFilter{ID: &apitype.FilterID{Any: flowIDs}}}})
			if err != nil {
				return nil, fmt.Errorf("list flows: %w", err)
			}
			for _, f := range flows {
				flowNames[f.ID] = f.Name
			}
		}
	}
	var nodes []*graphNode
	byID := map[uuid.UUID]*graphNode{}
	for i := range tasks {
		tr := &tasks[i]
		n := &graphNode{task: tr}
		n.Kind, n.ID, n.Label = "task-run", tr.ID, tr.Name
		stateType := tr.StateType
		start := cmp.Or(tr.StartTime, tr.ExpectedStartTime)
		n.EndTime = tr.EndTime
		if n.EndTime == nil && tr.StateType != nil && *tr.StateType == apitype.StateTypeCompleted {
			n.EndTime = tr.ExpectedStartTime
		}
		if sf := subflows[tr.ID]; sf != nil {
			n.Kind, n.ID, n.Label = "flow-run", sf.ID, flowNames[sf.FlowID]+" / "+sf.Name
			stateType = cmp.Or(sf.StateType, stateType)
			start = cmp.Or(sf.StartTime, sf.ExpectedStartTime, start)
			n.EndTime = cmp.Or(sf.EndTime, n.EndTime)
		}
		if start == nil || stateType == nil {
			continue // cannot be placed on a timeline (Prefect skips the first, fails on the second)
		}
		n.StateType, n.StartTime = *stateType, *start
		n.Parents, n.Children, n.Encapsulating, n.Artifacts = []apitype.GraphEdge{}, []apitype.GraphEdge{}, []apitype.GraphEdge{}, []apitype.GraphArtifact{}
		nodes = append(nodes, n)
		byID[n.ID] = n
	}
	// Edges: an input referencing id X points at the node whose id is X.
	for _, n := range nodes {
		for key, inputs := range n.task.TaskInputs {
			for _, in := range inputs {
				if in.ID == nil || byID[*in.ID] == nil {
					continue
				}
				if key == "__parents__" {
					if !slices.Contains(n.encaps, *in.ID) {
						n.encaps = append(n.encaps, *in.ID)
					}
				} else {
					n.parents = append(n.parents, *in.ID)
				}
			}
		}
	}
	sortNodes(nodes)
	// Children follow the node order (by start time), as parents do.
	for _, child := range nodes {
		ps := slices.Clone(child.parents)
		slices.SortStableFunc(ps, func(x, y uuid.UUID) int {
			return cmp.Or(byID[x].StartTime.Compare(byID[y].StartTime), slices.Compare(x[:], y[:]))
		})
		for _, p := range ps {
			child.Parents = append(child.Parents, apitype.GraphEdge{ID: p})
		}
		for _, e := range child.encaps {
			child.Encapsulating = append(child.Encapsulating, apitype.GraphEdge{ID: e})
		}
		for _, p := range child.parents {
			parent := byID[p]
			parent.Children = append(parent.Children, apitype.GraphEdge{ID: child.ID})
		}
	}
	return nodes, nil
}

func sortNodes(nodes []*graphNode) {
	slices.SortStableFunc(nodes, func(x, y *graphNode) int {
		if c := x.StartTime.Compare(y.StartTime); c != 0 {
			return c
		}
		switch {
		case x.EndTime == nil && y.EndTime != nil:
			return 1
		case x.EndTime != nil && y.EndTime == nil:
			return -1
		case x.EndTime != nil:
			if c := x.EndTime.Compare(*y.EndTime); c != 0 {
				return c
			}
		}
		return slices.Compare(x.ID[:], y.ID[:])
	})
}

// graphArtifacts returns the run's first max_artifacts artifacts (oldest
// first, result artifacts and untyped ones excluded as Prefect's type !=
// 'result' does) grouped by task run; uuid.Nil holds the flow run's own.
func (a *app) graphArtifacts(r *http.Request, id uuid.UUID) (map[uuid.UUID][]apitype.GraphArtifact, error) {
	ctx := r.Context()
	all, err := a.store.ArtifactList(ctx, &storage.ArtifactListParams{
		Filter: &apitype.ArtifactFilter{FlowRunID: &apitype.ArtifactFilterFlowRunID{Any: []uuid.UUID{id}}}})
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	arts := all[:0]
	for _, art := range all {
		if art.Type != nil && *art.Type != "result" {
			arts = append(arts, art)
		}
	}
	slices.SortStableFunc(arts, func(x, y apitype.Artifact) int {
		return cmp.Or(x.Created.Compare(y.Created), slices.Compare(x.ID[:], y.ID[:]))
	})
	if maxArts := cmp.Or(a.settings.FlowRunGraphMaxArtifacts, graphDefaultMax); len(arts) > maxArts {
		arts = arts[:maxArts]
	}
	latest := map[uuid.UUID]bool{}
	var keyed []uuid.UUID
	for _, art := range arts {
		if art.Key != nil {
			keyed = append(keyed, art.ID)
		}
	}
	if len(keyed) > 0 {
		cols, err := a.store.ArtifactCollectionList(ctx, &storage.ArtifactCollectionListParams{
			Filter: &apitype.ArtifactCollectionFilter{LatestID: &apitype.ArtifactFilterID{Any: keyed}}})
		if err != nil {
			return nil, fmt.Errorf("list artifact collections: %w", err)
		}
		for _, c := range cols {
			latest[c.LatestID] = true
		}
	}
	out := map[uuid.UUID][]apitype.GraphArtifact{}
	for _, art := range arts {
		g := apitype.GraphArtifact{ID: art.ID, Created: art.Created, Key: art.Key, Type: art.Type,
			IsLatest: art.Key == nil || latest[art.ID]}
		if *art.Type == "progress" {
			g.Data = presentData(art.Data)
		}
		owner := uuid.Nil
		if art.TaskRunID != nil {
			owner = *art.TaskRunID
		}
		out[owner] = append(out[owner], g)
	}
	return out, nil
}
