package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// ArtifactStore persists artifacts and, in the same transactions, the
// artifact_collection table: one row per key mirroring its latest artifact.
type ArtifactStore interface {
	// ArtifactCreate inserts the artifact (the caller fills ID, Created and
	// Updated). A keyed artifact becomes the latest of its key: the collection
	// row is created, or updated in place (keeping its id and created).
	// CollectionID is used only when the key has no collection row yet.
	ArtifactCreate(ctx context.Context, p *ArtifactCreateParams) (*apitype.Artifact, error)
	ArtifactGet(ctx context.Context, id uuid.UUID) (*apitype.Artifact, error)
	ArtifactList(ctx context.Context, p *ArtifactListParams) ([]apitype.Artifact, error)
	// ArtifactCount counts the artifacts passing f and runs (nil: no
	// constraint; see ArtifactListParams.Runs).
	ArtifactCount(ctx context.Context, f *apitype.ArtifactFilter, runs *RunQuery) (int64, error)
	// ArtifactUpdate changes the artifact and, when it is the latest of its
	// key, the collection row alike. ErrNotFound when neither exists.
	ArtifactUpdate(ctx context.Context, id uuid.UUID, p *ArtifactUpdateParams) error
	// ArtifactDelete deletes the artifact. When it was the latest of its key,
	// the collection row takes over the newest remaining artifact of the key
	// (all its fields, created and updated included) or is deleted when none
	// remains. ErrNotFound when absent.
	ArtifactDelete(ctx context.Context, id uuid.UUID) error

	// ArtifactCollectionGetByKey returns the latest artifact of a key.
	ArtifactCollectionGetByKey(ctx context.Context, key string) (*apitype.ArtifactCollection, error)
	ArtifactCollectionList(ctx context.Context, p *ArtifactCollectionListParams) ([]apitype.ArtifactCollection, error)
	ArtifactCollectionCount(ctx context.Context, f *apitype.ArtifactCollectionFilter, runs *RunQuery) (int64, error)
}

// ArtifactCreateParams creates an artifact. Artifact.Data nil is stored as
// JSON null; Artifact.Created is also the collection's `updated`.
type ArtifactCreateParams struct {
	Artifact     apitype.Artifact
	CollectionID uuid.UUID
}

// ArtifactUpdateParams lists the fields a PATCH sent. Data nil leaves data
// alone (JSON null clears it); the Set flags say whether Description and
// Metadata were sent (nil then clears them). Updated is always set to Now.
type ArtifactUpdateParams struct {
	Data           json.RawMessage
	SetDescription bool
	Description    *string
	SetMetadata    bool
	Metadata       map[string]string
	Now            time.Time
}

// ArtifactListParams selects a page of artifacts. Sort is an
// apitype.ArtifactSort* value ("" is ID_DESC).
type ArtifactListParams struct {
	Filter *apitype.ArtifactFilter
	// Runs filters by the artifact's runs: Flows and FlowRuns its flow run,
	// TaskRuns its task run (Where.ArtifactRuns).
	Runs   RunQuery
	Sort   string
	Limit  int
	Offset int
}

// ArtifactCollectionListParams selects a page of collection rows.
type ArtifactCollectionListParams struct {
	Filter *apitype.ArtifactCollectionFilter
	// Runs filters by the latest artifact's runs, as ArtifactListParams.Runs.
	Runs   RunQuery
	Sort   string
	Limit  int
	Offset int
}

// artifactCriteria are the criteria both artifact filters share.
type artifactCriteria struct {
	op        apitype.Operator
	idCol     string
	id        *apitype.ArtifactFilterID
	key       *apitype.ArtifactFilterKey
	flowRunID *apitype.ArtifactFilterFlowRunID
	taskRunID *apitype.ArtifactFilterTaskRunID
	typ       *apitype.ArtifactFilterType
}

func (w *Where) artifactCriteria(c artifactCriteria) (string, error) {
	if err := checkOperator(c.op); err != nil {
		return "", err
	}
	var preds []string
	if c.id != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds(c.idCol, c.id.Any, nil)))
	}
	if k := c.key; k != nil {
		var p []string
		if k.Any != nil {
			p = append(p, w.d.In(w, "key", k.Any))
		}
		if k.Like != nil && *k.Like != "" {
			// Prefect passes like_ through, so its % and _ are wildcards.
			p = append(p, w.d.ILike(w, "key", "%"+*k.Like+"%"))
		}
		if k.Exists != nil {
			p = append(p, isNull("key", !*k.Exists))
		}
		preds = append(preds, combine(apitype.OperatorAnd, p))
	}
	if c.flowRunID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("flow_run_id", c.flowRunID.Any, nil)))
	}
	if c.taskRunID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("task_run_id", c.taskRunID.Any, nil)))
	}
	if t := c.typ; t != nil {
		var p []string
		if t.Any != nil {
			p = append(p, w.d.In(w, "type", t.Any))
		}
		if len(t.NotAny) > 0 {
			// NOT (NULL IN ...) is NULL: untyped artifacts drop out, as with
			// Prefect's NOT IN.
			p = append(p, "NOT "+w.d.In(w, "type", t.NotAny))
		}
		preds = append(preds, combine(apitype.OperatorAnd, p))
	}
	return combine(c.op, preds), nil
}

// Artifact renders an ArtifactFilter over the artifact table.
func (w *Where) Artifact(f *apitype.ArtifactFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	return w.artifactCriteria(artifactCriteria{op: f.Operator, idCol: "id", id: f.ID, key: f.Key,
		flowRunID: f.FlowRunID, taskRunID: f.TaskRunID, typ: f.Type})
}

// ArtifactCollection renders an ArtifactCollectionFilter over the
// artifact_collection table.
func (w *Where) ArtifactCollection(f *apitype.ArtifactCollectionFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	return w.artifactCriteria(artifactCriteria{op: f.Operator, idCol: "latest_id", id: f.LatestID, key: f.Key,
		flowRunID: f.FlowRunID, taskRunID: f.TaskRunID, typ: f.Type})
}

// ArtifactOrderBy returns the ORDER BY list of an ArtifactSort (or
// ArtifactCollectionSort) value; "" is ID_DESC. Keys sort with NULLs last
// ascending and first descending on both engines (PostgreSQL's default).
func ArtifactOrderBy(sort string) (string, error) {
	switch sort {
	case "", apitype.ArtifactSortIDDesc:
		return "id DESC", nil
	case apitype.ArtifactSortCreatedDesc:
		return "created DESC, id DESC", nil
	case apitype.ArtifactSortUpdatedDesc:
		return "updated DESC, id DESC", nil
	case apitype.ArtifactSortKeyDesc:
		return "key DESC NULLS FIRST, id DESC", nil
	case apitype.ArtifactSortKeyAsc:
		return "key ASC NULLS LAST, id ASC", nil
	}
	return "", fmt.Errorf("%w: artifact sort %q", ErrInvalidFilter, sort)
}
