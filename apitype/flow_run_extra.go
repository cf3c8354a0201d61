package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// FlowRunInput is Prefect's FlowRunInput: a key/value input of a flow run
// (pause/resume run input, send_input/receive_input). Value is the raw text.
type FlowRunInput struct {
	ID        uuid.UUID `json:"id"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	FlowRunID uuid.UUID `json:"flow_run_id"`
	Key       string    `json:"key"`
	Value     string    `json:"value"`
	Sender    *string   `json:"sender"`
}

// Graph is the response of GET /flow_runs/{id}/graph-v2.
type Graph struct {
	StartTime   *time.Time      `json:"start_time"`
	EndTime     *time.Time      `json:"end_time"`
	RootNodeIDs []uuid.UUID     `json:"root_node_ids"`
	Nodes       []GraphNodePair `json:"nodes"`
	Artifacts   []GraphArtifact `json:"artifacts"`
	States      []GraphState    `json:"states"`
}

// GraphNodePair is one [id, node] tuple of Graph.nodes.
type GraphNodePair struct {
	ID   uuid.UUID
	Node GraphNode
}

// MarshalJSON writes the pair as a two-element array.
func (p GraphNodePair) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]any{p.ID, p.Node})
}

// GraphNode is a task run or subflow run of a graph. Kind is "task-run" or
// "flow-run".
type GraphNode struct {
	Kind          string          `json:"kind"`
	ID            uuid.UUID       `json:"id"`
	Label         string          `json:"label"`
	StateType     StateType       `json:"state_type"`
	StartTime     time.Time       `json:"start_time"`
	EndTime       *time.Time      `json:"end_time"`
	Parents       []GraphEdge     `json:"parents"`
	Children      []GraphEdge     `json:"children"`
	Encapsulating []GraphEdge     `json:"encapsulating"`
	Artifacts     []GraphArtifact `json:"artifacts"`
}

// GraphEdge points at another node.
type GraphEdge struct {
	ID uuid.UUID `json:"id"`
}

// GraphArtifact is an artifact on a graph; Data is set only for progress
// artifacts.
type GraphArtifact struct {
	ID       uuid.UUID `json:"id"`
	Created  time.Time `json:"created"`
	Key      *string   `json:"key"`
	Type     *string   `json:"type"`
	IsLatest bool      `json:"is_latest"`
	Data     any       `json:"data"`
}

// GraphState is a flow run state on a graph.
type GraphState struct {
	ID        uuid.UUID `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	Type      StateType `json:"type"`
	Name      string    `json:"name"`
}

// FlowRunOrchestrationResult is one run's outcome in a bulk state change.
type FlowRunOrchestrationResult struct {
	FlowRunID uuid.UUID            `json:"flow_run_id"`
	Status    SetStateStatus       `json:"status"`
	State     *State               `json:"state"`
	Details   StateResponseDetails `json:"details"`
}

// FlowRunBulkSetStateResponse is the response of POST /flow_runs/bulk_set_state.
type FlowRunBulkSetStateResponse struct {
	Results []FlowRunOrchestrationResult `json:"results"`
}
