package storage

import (
	"context"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// FlowRunInputStore persists flow run inputs: the key/value rows pause and
// resume exchange run input through (and send_input/receive_input).
type FlowRunInputStore interface {
	// FlowRunInputCreate inserts in (the caller fills ID, Created, Updated).
	// ErrConflict: the flow run already has the key; ErrNotFound: no such
	// flow run.
	FlowRunInputCreate(ctx context.Context, in *apitype.FlowRunInput) error
	// FlowRunInputGet returns the input under key, or ErrNotFound.
	FlowRunInputGet(ctx context.Context, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error)
	// FlowRunInputFilter lists the run's inputs whose key is LIKE prefix+"%"
	// (so "%" and "_" in prefix are wildcards, as in Prefect) and not in
	// ExcludeKeys, oldest first. Limit < 0 means no limit.
	FlowRunInputFilter(ctx context.Context, p *FlowRunInputFilterParams) ([]apitype.FlowRunInput, error)
	// FlowRunInputDelete deletes the input under key, or returns ErrNotFound.
	FlowRunInputDelete(ctx context.Context, flowRunID uuid.UUID, key string) error
}

// FlowRunInputFilterParams selects inputs of one flow run.
type FlowRunInputFilterParams struct {
	FlowRunID   uuid.UUID
	Prefix      string
	ExcludeKeys []string
	Limit       int
}

// FlowRunInputTx is implemented by every engine's RunTx: the run-input reads
// and writes a set_state or resume makes inside the run's orchestration
// transaction (resume validates against a stored schema and stores the
// response only if the transition is accepted; pausing deletes stale input).
type FlowRunInputTx interface {
	FlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) (*apitype.FlowRunInput, error)
	CreateFlowRunInput(ctx context.Context, in *apitype.FlowRunInput) error
	// DeleteFlowRunInput deletes the input under key; absent is not an error.
	DeleteFlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) error
}
