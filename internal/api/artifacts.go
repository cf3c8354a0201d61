package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// artifactKeyRE is Prefect's ArtifactKey rule.
var artifactKeyRE = regexp.MustCompile(`^[a-z0-9-]*$`)

const artifactKeyError = "Artifact key must only contain lowercase letters, numbers, and dashes."

var errArtifactNotFound = errDetail(http.StatusNotFound, "Artifact not found.")

var artifactSorts = []string{apitype.ArtifactSortCreatedDesc, apitype.ArtifactSortUpdatedDesc,
	apitype.ArtifactSortIDDesc, apitype.ArtifactSortKeyDesc, apitype.ArtifactSortKeyAsc}

func (a *app) artifactRoutes(route route) {
	route("POST", "/artifacts/{$}", a.artifactCreate)
	route("POST", "/artifacts/filter", a.artifactFilter)
	route("POST", "/artifacts/count", a.artifactCount)
	route("POST", "/artifacts/latest/filter", a.artifactLatestFilter)
	route("POST", "/artifacts/latest/count", a.artifactLatestCount)
	route("GET", "/artifacts/{key}/latest", a.artifactLatest)
	route("GET", "/artifacts/{id}", a.artifactGet)
	route("PATCH", "/artifacts/{id}", a.artifactUpdate)
	route("DELETE", "/artifacts/{id}", a.artifactDelete)
}

// artifactPathID parses {id}. Prefect's route only matches a hyphenated
// UUID ({id:uuid}), so anything else is the router's 404, not a 422.
func artifactPathID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, errNotFound
	}
	return id, nil
}

// decodeMetadata validates a metadata_ value (an object of strings, or
// null) and applies Prefect's truncation of long values.
func decodeMetadata(raw []byte, v json.RawMessage) (map[string]string, error) {
	if !present(v) {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(v, &fields); err != nil {
		return nil, errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "metadata_"}, Type: "dict_type", Msg: "Input should be a valid dictionary", Input: echoBody(v),
		})
	}
	out := make(map[string]string, len(fields))
	var details []ValidationDetail
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var s string
		if err := json.Unmarshal(fields[k], &s); err != nil {
			details = append(details, ValidationDetail{Loc: []any{"body", "metadata_", k}, Type: "string_type",
				Msg: "Input should be a valid string", Input: echoBody(fields[k])})
			continue
		}
		if rs := []rune(s); len(rs) > apitype.ArtifactMetadataMaxLength {
			s = string(rs[:apitype.ArtifactMetadataMaxLength]) + "..."
		}
		out[k] = s
	}
	if len(details) > 0 {
		return nil, errValidation(echoBody(raw), details...)
	}
	return out, nil
}

// decodeOptionalString reads a string-or-null body field.
func decodeOptionalString(raw []byte, field string, v json.RawMessage) (*string, error) {
	if !present(v) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", field}, Type: "string_type", Msg: "Input should be a valid string", Input: echoBody(v),
		})
	}
	return &s, nil
}

// presentData is the JSON of an artifact's data: null when absent.
func presentData(d json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(d)) == 0 {
		return json.RawMessage("null")
	}
	return d
}

func (a *app) artifactCreate(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Key         *string         `json:"key"`
		Type        *string         `json:"type"`
		Description *string         `json:"description"`
		Data        json.RawMessage `json:"data"`
		Metadata    json.RawMessage `json:"metadata_"`
		FlowRunID   *uuid.UUID      `json:"flow_run_id"`
		TaskRunID   *uuid.UUID      `json:"task_run_id"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.Key != nil && !artifactKeyRE.MatchString(*body.Key) {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "key"}, Type: "value_error", Input: *body.Key,
			Msg: "Value error, " + artifactKeyError, Ctx: map[string]any{"error": artifactKeyError},
		})
	}
	meta, err := decodeMetadata(raw, body.Metadata)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	art, err := a.store.ArtifactCreate(r.Context(), &storage.ArtifactCreateParams{
		Artifact: apitype.Artifact{ID: uuid.New(), Created: now, Updated: now, Key: body.Key, Type: body.Type,
			Description: body.Description, Data: presentData(body.Data), Metadata: meta,
			FlowRunID: body.FlowRunID, TaskRunID: body.TaskRunID},
		CollectionID: uuid.New(),
	})
	if err != nil {
		return fmt.Errorf("create artifact: %w", err)
	}
	writeJSON(w, http.StatusCreated, art)
	return nil
}

func (a *app) artifactGet(w http.ResponseWriter, r *http.Request) error {
	id, err := artifactPathID(r)
	if err != nil {
		return err
	}
	art, err := a.store.ArtifactGet(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errArtifactNotFound
	}
	if err != nil {
		return fmt.Errorf("read artifact: %w", err)
	}
	writeJSON(w, http.StatusOK, art)
	return nil
}

// artifactLatest answers with the key's collection row in the Artifact
// shape, exactly as Prefect does: "id" is the collection row's id, not the
// latest artifact's (that is latest_id in /artifacts/latest/filter).
func (a *app) artifactLatest(w http.ResponseWriter, r *http.Request) error {
	c, err := a.store.ArtifactCollectionGetByKey(r.Context(), r.PathValue("key"))
	if errors.Is(err, storage.ErrNotFound) {
		return errArtifactNotFound
	}
	if err != nil {
		return fmt.Errorf("read latest artifact: %w", err)
	}
	key := c.Key
	writeJSON(w, http.StatusOK, &apitype.Artifact{ID: c.ID, Created: c.Created, Updated: c.Updated, Key: &key,
		Type: c.Type, Description: c.Description, Data: c.Data, Metadata: c.Metadata,
		FlowRunID: c.FlowRunID, TaskRunID: c.TaskRunID})
	return nil
}

func (a *app) artifactUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := artifactPathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Data        json.RawMessage `json:"data"`
		Description json.RawMessage `json:"description"`
		Metadata    json.RawMessage `json:"metadata_"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	// A field sent as null is applied (cleared); an absent field is kept.
	p := storage.ArtifactUpdateParams{Data: body.Data, Now: a.now().UTC()}
	if body.Description != nil {
		p.SetDescription = true
		if p.Description, err = decodeOptionalString(raw, "description", body.Description); err != nil {
			return err
		}
	}
	if body.Metadata != nil {
		p.SetMetadata = true
		if p.Metadata, err = decodeMetadata(raw, body.Metadata); err != nil {
			return err
		}
	}
	err = a.store.ArtifactUpdate(r.Context(), id, &p)
	if errors.Is(err, storage.ErrNotFound) {
		return errArtifactNotFound
	}
	if err != nil {
		return fmt.Errorf("update artifact: %w", err)
	}
	writeNoContent(w)
	return nil
}

func (a *app) artifactDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := artifactPathID(r)
	if err != nil {
		return err
	}
	err = a.store.ArtifactDelete(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return errArtifactNotFound
	}
	if err != nil {
		return fmt.Errorf("delete artifact: %w", err)
	}
	writeNoContent(w)
	return nil
}

// artifactQuery is the body of the artifact read endpoints; Artifacts is an
// ArtifactFilter or an ArtifactCollectionFilter. The deployment filter stays
// raw: deployments do not exist yet.
type artifactQuery[F any] struct {
	Artifacts   *F                     `json:"artifacts"`
	FlowRuns    *apitype.FlowRunFilter `json:"flow_runs"`
	TaskRuns    *apitype.TaskRunFilter `json:"task_runs"`
	Flows       *apitype.FlowFilter    `json:"flows"`
	Deployments json.RawMessage        `json:"deployments"`
	Sort        *string                `json:"sort"`
	Limit       *int                   `json:"limit"`
	Offset      *int                   `json:"offset"`

	// none is set when the query can match nothing: a deployments filter,
	// even {}, demands the artifact's flow run has a deployment (Prefect
	// joins it), and Warden has none yet.
	none bool
}

func (q *artifactQuery[F]) runs() *storage.RunQuery {
	return &storage.RunQuery{Flows: q.Flows, FlowRuns: q.FlowRuns, TaskRuns: q.TaskRuns}
}

// decodeArtifactQuery decodes and validates an artifact read body.
func decodeArtifactQuery[F any](r *http.Request) (*artifactQuery[F], []byte, error) {
	var q artifactQuery[F]
	raw, err := decodeBody(r, &q, true)
	if err != nil {
		return nil, raw, err
	}
	if hasCriteria(q.Deployments) {
		return nil, raw, errDetail(http.StatusNotImplemented, "Filtering artifacts by deployments is not implemented yet")
	}
	q.none = present(q.Deployments)
	if q.Sort != nil {
		if err := checkEnum(raw, "sort", *q.Sort, artifactSorts...); err != nil {
			return nil, raw, err
		}
	}
	return &q, raw, nil
}

func (q *artifactQuery[F]) sort() string {
	if q.Sort == nil {
		return apitype.ArtifactSortIDDesc
	}
	return *q.Sort
}

// serveArtifactList answers /artifacts/filter and /artifacts/latest/filter.
func serveArtifactList[F, T any](a *app, w http.ResponseWriter, r *http.Request,
	list func(ctx context.Context, f *F, runs *storage.RunQuery, sort string, win window) ([]T, error)) error {
	q, raw, err := decodeArtifactQuery[F](r)
	if err != nil {
		return err
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	out := []T{}
	if !win.empty() && !q.none {
		if out, err = list(r.Context(), q.Artifacts, q.runs(), q.sort(), win); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// serveArtifactCount answers /artifacts/count and /artifacts/latest/count.
func serveArtifactCount[F any](w http.ResponseWriter, r *http.Request,
	count func(ctx context.Context, f *F, runs *storage.RunQuery) (int64, error)) error {
	q, _, err := decodeArtifactQuery[F](r)
	if err != nil {
		return err
	}
	var n int64
	if !q.none {
		if n, err = count(r.Context(), q.Artifacts, q.runs()); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (a *app) artifactFilter(w http.ResponseWriter, r *http.Request) error {
	return serveArtifactList(a, w, r, func(ctx context.Context, f *apitype.ArtifactFilter, runs *storage.RunQuery, sort string, win window) ([]apitype.Artifact, error) {
		arts, err := a.store.ArtifactList(ctx, &storage.ArtifactListParams{Filter: f, Runs: *runs, Sort: sort, Limit: win.limit, Offset: win.offset})
		if err != nil {
			return nil, fmt.Errorf("list artifacts: %w", err)
		}
		return arts, nil
	})
}

func (a *app) artifactLatestFilter(w http.ResponseWriter, r *http.Request) error {
	return serveArtifactList(a, w, r, func(ctx context.Context, f *apitype.ArtifactCollectionFilter, runs *storage.RunQuery, sort string, win window) ([]apitype.ArtifactCollection, error) {
		cols, err := a.store.ArtifactCollectionList(ctx, &storage.ArtifactCollectionListParams{Filter: f, Runs: *runs, Sort: sort, Limit: win.limit, Offset: win.offset})
		if err != nil {
			return nil, fmt.Errorf("list latest artifacts: %w", err)
		}
		return cols, nil
	})
}

func (a *app) artifactCount(w http.ResponseWriter, r *http.Request) error {
	return serveArtifactCount(w, r, a.store.ArtifactCount)
}

func (a *app) artifactLatestCount(w http.ResponseWriter, r *http.Request) error {
	return serveArtifactCount(w, r, a.store.ArtifactCollectionCount)
}
