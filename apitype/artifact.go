package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// ArtifactMetadataMaxLength is the length (in characters) beyond which
// Prefect truncates a metadata_ value, appending "...".
const ArtifactMetadataMaxLength = 500

// Artifact is Prefect's `Artifact` response schema. Data is any JSON value
// (JSON null when absent).
type Artifact struct {
	ID          uuid.UUID         `json:"id"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	Key         *string           `json:"key"`
	Type        *string           `json:"type"`
	Description *string           `json:"description"`
	Data        json.RawMessage   `json:"data"`
	Metadata    map[string]string `json:"metadata_"`
	FlowRunID   *uuid.UUID        `json:"flow_run_id"`
	TaskRunID   *uuid.UUID        `json:"task_run_id"`
}

// ArtifactCollection is Prefect's `ArtifactCollection`: the latest artifact
// of one key. ID is the collection's own id; LatestID the artifact's.
type ArtifactCollection struct {
	ID          uuid.UUID         `json:"id"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	Key         string            `json:"key"`
	LatestID    uuid.UUID         `json:"latest_id"`
	Type        *string           `json:"type"`
	Description *string           `json:"description"`
	Data        json.RawMessage   `json:"data"`
	Metadata    map[string]string `json:"metadata_"`
	FlowRunID   *uuid.UUID        `json:"flow_run_id"`
	TaskRunID   *uuid.UUID        `json:"task_run_id"`
}

// ArtifactCreate is the body of POST /artifacts/.
type ArtifactCreate struct {
	Key         *string           `json:"key,omitempty"`
	Type        *string           `json:"type,omitempty"`
	Description *string           `json:"description,omitempty"`
	Data        json.RawMessage   `json:"data,omitempty"`
	Metadata    map[string]string `json:"metadata_,omitempty"`
	FlowRunID   *uuid.UUID        `json:"flow_run_id,omitempty"`
	TaskRunID   *uuid.UUID        `json:"task_run_id,omitempty"`
}

// ArtifactUpdate is the body of PATCH /artifacts/{id}. Only the fields sent
// change; a field sent as JSON null is cleared (the server tells the two
// apart, this client type omits nil fields).
type ArtifactUpdate struct {
	Data        json.RawMessage   `json:"data,omitempty"`
	Description *string           `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata_,omitempty"`
}

// ArtifactSort values (also the ArtifactCollectionSort values).
const (
	ArtifactSortCreatedDesc = "CREATED_DESC"
	ArtifactSortUpdatedDesc = "UPDATED_DESC"
	ArtifactSortIDDesc      = "ID_DESC"
	ArtifactSortKeyDesc     = "KEY_DESC"
	ArtifactSortKeyAsc      = "KEY_ASC"
)

// ArtifactFilter is Prefect's ArtifactFilter. Nil criteria are ignored.
type ArtifactFilter struct {
	Operator  Operator                 `json:"operator,omitempty"`
	ID        *ArtifactFilterID        `json:"id,omitempty"`
	Key       *ArtifactFilterKey       `json:"key,omitempty"`
	FlowRunID *ArtifactFilterFlowRunID `json:"flow_run_id,omitempty"`
	TaskRunID *ArtifactFilterTaskRunID `json:"task_run_id,omitempty"`
	Type      *ArtifactFilterType      `json:"type,omitempty"`
}

// ArtifactCollectionFilter is Prefect's ArtifactCollectionFilter.
type ArtifactCollectionFilter struct {
	Operator  Operator                 `json:"operator,omitempty"`
	LatestID  *ArtifactFilterID        `json:"latest_id,omitempty"`
	Key       *ArtifactFilterKey       `json:"key,omitempty"`
	FlowRunID *ArtifactFilterFlowRunID `json:"flow_run_id,omitempty"`
	TaskRunID *ArtifactFilterTaskRunID `json:"task_run_id,omitempty"`
	Type      *ArtifactFilterType      `json:"type,omitempty"`
}

// ArtifactFilterID matches ids (latest_id for collections) by any_.
type ArtifactFilterID struct {
	Any []uuid.UUID `json:"any_,omitempty"`
}

// ArtifactFilterKey matches keys: any_ exactly, like_ as a case-insensitive
// SQL LIKE wrapped in % (so % and _ are wildcards, as Prefect documents),
// exists_ on whether the key is set.
type ArtifactFilterKey struct {
	Any    []string `json:"any_,omitempty"`
	Like   *string  `json:"like_,omitempty"`
	Exists *bool    `json:"exists_,omitempty"`
}

// ArtifactFilterFlowRunID matches the flow run id column.
type ArtifactFilterFlowRunID struct {
	Any []uuid.UUID `json:"any_,omitempty"`
}

// ArtifactFilterTaskRunID matches the task run id column.
type ArtifactFilterTaskRunID struct {
	Any []uuid.UUID `json:"any_,omitempty"`
}

// ArtifactFilterType matches types; not_any_ also drops artifacts without a
// type (SQL NOT IN semantics, as in Prefect).
type ArtifactFilterType struct {
	Any    []string `json:"any_,omitempty"`
	NotAny []string `json:"not_any_,omitempty"`
}

// ArtifactFilterBody is the body of POST /artifacts/filter and
// /artifacts/count (count ignores Sort, Limit and Offset).
type ArtifactFilterBody struct {
	Artifacts *ArtifactFilter `json:"artifacts,omitempty"`
	Sort      string          `json:"sort,omitempty"`
	Limit     *int            `json:"limit,omitempty"`
	Offset    int             `json:"offset,omitempty"`
}

// ArtifactCollectionFilterBody is the body of POST /artifacts/latest/filter
// and /artifacts/latest/count.
type ArtifactCollectionFilterBody struct {
	Artifacts *ArtifactCollectionFilter `json:"artifacts,omitempty"`
	Sort      string                    `json:"sort,omitempty"`
	Limit     *int                      `json:"limit,omitempty"`
	Offset    int                       `json:"offset,omitempty"`
}
