package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

const artifactNotFound = `{"detail":"Artifact not found."}`

func (ts *testServer) createArtifact(body any) apitype.Artifact {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/artifacts/", body), http.StatusCreated, "POST", "/artifacts/")
	var a apitype.Artifact
	require.NoError(ts.t, json.Unmarshal(raw, &a))
	return a
}

func (ts *testServer) latestArtifacts(body any) []apitype.ArtifactCollection {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/artifacts/latest/filter", body), http.StatusOK, "POST", "/artifacts/latest/filter")
	var out []apitype.ArtifactCollection
	require.NoError(ts.t, json.Unmarshal(raw, &out))
	return out
}

func (ts *testServer) count(path string, body any) int {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api"+path, body), http.StatusOK, "POST", path)
	var n int
	require.NoError(ts.t, json.Unmarshal(raw, &n))
	return n
}

func TestArtifactCRUD(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	first := ts.createArtifact(map[string]any{"key": "sales-report", "type": "markdown", "description": "# v1",
		"data": "**hello**", "metadata_": map[string]any{"rows": "3"}, "flow_run_id": runA})
	require.Equal(t, "sales-report", *first.Key)
	require.Equal(t, `"**hello**"`, string(first.Data))
	require.Equal(t, map[string]string{"rows": "3"}, first.Metadata)
	require.Equal(t, ts.clock(), first.Created)

	byID := "/api/artifacts/" + first.ID.String()
	raw := ts.ok(ts.do("GET", byID, nil), http.StatusOK, "GET", "/artifacts/{id}")
	require.JSONEq(t, mustJSON(t, first), string(raw))

	ts.advance(1e9)
	second := ts.createArtifact(map[string]any{"key": "sales-report", "type": "table", "data": map[string]any{"rows": []int{1, 2}}})
	bare := ts.createArtifact(map[string]any{})
	require.Nil(t, bare.Key)
	require.Equal(t, "null", string(bare.Data))
	raw = ts.ok(ts.do("GET", "/api/artifacts/"+bare.ID.String(), nil), http.StatusOK, "GET", "/artifacts/{id}")
	require.Contains(t, string(raw), `"data":null`)
	require.Contains(t, string(raw), `"metadata_":null`)

	// The latest of a key; as in Prefect its "id" is the collection row's.
	raw = ts.ok(ts.do("GET", "/api/artifacts/sales-report/latest", nil), http.StatusOK, "GET", "/artifacts/{key}/latest")
	var latest apitype.Artifact
	require.NoError(t, json.Unmarshal(raw, &latest))
	require.Equal(t, "table", *latest.Type)
	require.JSONEq(t, `{"rows":[1,2]}`, string(latest.Data))
	cols := ts.latestArtifacts(nil)
	require.Len(t, cols, 1)
	require.Equal(t, second.ID, cols[0].LatestID)
	require.Equal(t, cols[0].ID, latest.ID)
	require.Equal(t, first.Created, cols[0].Created)
	ts.expect(ts.do("GET", "/api/artifacts/nope/latest", nil), http.StatusNotFound, artifactNotFound)

	// PATCH: sent fields change (null clears), absent ones stay; the
	// collection follows its latest artifact.
	require.Equal(t, http.StatusNoContent, ts.do("PATCH", "/api/artifacts/"+second.ID.String(),
		`{"description": "updated", "metadata_": {"k": "v"}}`).Status)
	raw = ts.ok(ts.do("GET", "/api/artifacts/sales-report/latest", nil), http.StatusOK, "GET", "/artifacts/{key}/latest")
	require.NoError(t, json.Unmarshal(raw, &latest))
	require.Equal(t, "updated", *latest.Description)
	require.Equal(t, map[string]string{"k": "v"}, latest.Metadata)
	require.JSONEq(t, `{"rows":[1,2]}`, string(latest.Data))
	require.Equal(t, http.StatusNoContent, ts.do("PATCH", "/api/artifacts/"+second.ID.String(), `{"data": null, "description": null}`).Status)
	got := ts.ok(ts.do("GET", "/api/artifacts/"+second.ID.String(), nil), http.StatusOK, "GET", "/artifacts/{id}")
	require.Contains(t, string(got), `"data":null`)
	require.Contains(t, string(got), `"description":null`)
	require.Contains(t, string(got), `"metadata_":{"k":"v"}`)
	require.Equal(t, http.StatusNoContent, ts.do("PATCH", byID, `{}`).Status)
	ts.expect(ts.do("PATCH", "/api/artifacts/"+runA, `{}`), http.StatusNotFound, artifactNotFound)

	// DELETE of the latest hands the key back to the previous version.
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/artifacts/"+second.ID.String(), nil).Status)
	cols = ts.latestArtifacts(nil)
	require.Len(t, cols, 1)
	require.Equal(t, first.ID, cols[0].LatestID)
	require.Equal(t, "markdown", *cols[0].Type)
	ts.expect(ts.do("DELETE", "/api/artifacts/"+second.ID.String(), nil), http.StatusNotFound, artifactNotFound)
	ts.expect(ts.do("GET", "/api/artifacts/"+second.ID.String(), nil), http.StatusNotFound, artifactNotFound)
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", byID, nil).Status)
	require.Empty(t, ts.latestArtifacts(nil))
	ts.expect(ts.do("GET", "/api/artifacts/sales-report/latest", nil), http.StatusNotFound, artifactNotFound)

	// Only hyphenated UUIDs match the {id} routes, as with Starlette's uuid
	// converter: anything else is the router's 404.
	for _, bad := range []string{"not-a-uuid", strings.ReplaceAll(runA, "-", "")} {
		ts.expect(ts.do("GET", "/api/artifacts/"+bad, nil), http.StatusNotFound, `{"detail":"Not Found"}`)
		ts.expect(ts.do("DELETE", "/api/artifacts/"+bad, nil), http.StatusNotFound, `{"detail":"Not Found"}`)
	}
}

func TestArtifactValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.expect(ts.do("POST", "/api/artifacts/", map[string]any{"key": "Bad_Key"}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", "key"], "type": "value_error", "input": "Bad_Key",
			"msg": "Value error, Artifact key must only contain lowercase letters, numbers, and dashes.",
			"ctx": {"error": "Artifact key must only contain lowercase letters, numbers, and dashes."}}],
		"request_body": {"key": "Bad_Key"}}`)
	ts.expect(ts.do("POST", "/api/artifacts/", map[string]any{"metadata_": map[string]any{"a": 1, "b": "ok"}}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", "metadata_", "a"], "type": "string_type", "input": 1, "msg": "Input should be a valid string"}],
		"request_body": {"metadata_": {"a": 1, "b": "ok"}}}`)
	res := ts.do("POST", "/api/artifacts/", map[string]any{"type": 5})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Contains(t, string(res.Body), `"loc":["body","type"]`)
	res = ts.do("PATCH", "/api/artifacts/"+runA, map[string]any{"description": []int{1}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Contains(t, string(res.Body), `"loc":["body","description"]`)
	require.Equal(t, 0, ts.count("/artifacts/count", nil), "rejected creates write nothing")

	// Long metadata values are truncated to 500 characters plus "...".
	a := ts.createArtifact(map[string]any{"metadata_": map[string]any{"long": strings.Repeat("é", 600), "short": "s"}})
	require.Equal(t, strings.Repeat("é", 500)+"...", a.Metadata["long"])
	require.Equal(t, "s", a.Metadata["short"])
}

func TestArtifactFilterAndCount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	a := ts.createArtifact(map[string]any{"key": "k-one", "type": "table", "flow_run_id": runA})
	ts.advance(1e9)
	b := ts.createArtifact(map[string]any{"key": "k-two", "type": "markdown"})
	ts.advance(1e9)
	c := ts.createArtifact(map[string]any{"key": "k-one", "type": "markdown"})
	ts.advance(1e9)
	d := ts.createArtifact(map[string]any{"type": "result"})

	filter := func(body any) []string {
		t.Helper()
		raw := ts.ok(ts.do("POST", "/api/artifacts/filter", body), http.StatusOK, "POST", "/artifacts/filter")
		var arts []apitype.Artifact
		require.NoError(t, json.Unmarshal(raw, &arts))
		out := make([]string, len(arts))
		for i, x := range arts {
			out[i] = x.ID.String()
		}
		return out
	}
	id := func(x apitype.Artifact) string { return x.ID.String() }
	require.Equal(t, []string{id(d), id(c), id(b), id(a)}, filter(map[string]any{"sort": "CREATED_DESC"}))
	require.Equal(t, []string{id(c), id(b)}, filter(map[string]any{"sort": "CREATED_DESC",
		"artifacts": map[string]any{"type": map[string]any{"any_": []string{"markdown"}}}}))
	require.Equal(t, []string{id(a)}, filter(map[string]any{
		"artifacts": map[string]any{"flow_run_id": map[string]any{"any_": []string{runA}}}}))
	require.Equal(t, []string{id(d)}, filter(map[string]any{
		"artifacts": map[string]any{"key": map[string]any{"exists_": false}}}))
	require.Len(t, filter(map[string]any{"limit": 2, "offset": 1}), 2)
	require.Empty(t, filter(map[string]any{"limit": 0}))
	require.Len(t, filter(nil), 4, "default sort ID_DESC")

	require.Equal(t, 4, ts.count("/artifacts/count", nil))
	require.Equal(t, 2, ts.count("/artifacts/count", map[string]any{"artifacts": map[string]any{"key": map[string]any{"any_": []string{"k-one"}}}}))
	require.Equal(t, 2, ts.count("/artifacts/latest/count", map[string]any{}))
	require.Equal(t, 0, ts.count("/artifacts/latest/count", map[string]any{"artifacts": map[string]any{"type": map[string]any{"any_": []string{"table"}}}}),
		"k-one's latest is markdown now")
	require.Equal(t, 2, ts.count("/artifacts/latest/count", map[string]any{"artifacts": map[string]any{"type": map[string]any{"any_": []string{"markdown"}}}}))

	cols := ts.latestArtifacts(map[string]any{"sort": "KEY_ASC"})
	require.Len(t, cols, 2)
	require.Equal(t, "k-one", cols[0].Key)
	require.Equal(t, c.ID, cols[0].LatestID)
	require.Equal(t, b.ID, cols[1].LatestID)
	cols = ts.latestArtifacts(map[string]any{"artifacts": map[string]any{"latest_id": map[string]any{"any_": []string{id(b)}}}})
	require.Len(t, cols, 1)
	require.Equal(t, "k-two", cols[0].Key)

	// Validation and the cross-entity filters that need later resources.
	ts.expect(ts.do("POST", "/api/artifacts/filter", map[string]any{"sort": "NAME_ASC"}), http.StatusUnprocessableEntity, `{
		"exception_message": "Invalid request received.",
		"exception_detail": [{"loc": ["body", "sort"], "type": "enum", "input": "NAME_ASC",
			"msg": "Input should be 'CREATED_DESC', 'UPDATED_DESC', 'ID_DESC', 'KEY_DESC' or 'KEY_ASC'",
			"ctx": {"expected": "'CREATED_DESC', 'UPDATED_DESC', 'ID_DESC', 'KEY_DESC' or 'KEY_ASC'"}}],
		"request_body": {"sort": "NAME_ASC"}}`)
	ts.expect(ts.do("POST", "/api/artifacts/latest/filter", map[string]any{"limit": 500}), http.StatusUnprocessableEntity,
		`{"detail": "Invalid limit: must be less than or equal to 200."}`)
	for _, path := range []string{"/api/artifacts/filter", "/api/artifacts/count", "/api/artifacts/latest/filter", "/api/artifacts/latest/count"} {
		ts.expect(ts.do("POST", path, map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{}}}}),
			http.StatusNotImplemented, `{"detail": "Filtering artifacts by deployments is not implemented yet"}`)
		// null cross-entity filters are ignored, as the Prefect client sends them.
		require.Equal(t, http.StatusOK, ts.do("POST", path, `{"flow_runs": null, "task_runs": null, "flows": null, "deployments": null}`).Status)
	}
}
