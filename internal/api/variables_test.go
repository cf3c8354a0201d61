package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func (ts *testServer) createVariable(body any) apitype.Variable {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/variables/", body), http.StatusCreated, "POST", "/variables/")
	var v apitype.Variable
	require.NoError(ts.t, json.Unmarshal(raw, &v))
	return v
}

const variableNotFound = `{"detail":"Variable not found."}`

func TestVariableCRUD(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	v := ts.createVariable(map[string]any{"name": "my_var-1", "value": map[string]any{"k": []int{1, 2}}, "tags": []string{"t"}})
	require.JSONEq(t, `{"k":[1,2]}`, string(v.Value))
	require.Equal(t, []string{"t"}, v.Tags)
	byID := "/api/variables/" + v.ID.String()

	ts.expect(ts.do("POST", "/api/variables/", map[string]any{"name": "my_var-1", "value": 1}), http.StatusConflict,
		`{"detail":"A variable with the name 'my_var-1' already exists."}`)

	got := ts.ok(ts.do("GET", byID, nil), http.StatusOK, "GET", "/variables/{id}")
	require.JSONEq(t, `{"k":[1,2]}`, string(mustVariable(t, got).Value))
	ts.ok(ts.do("GET", "/api/variables/name/my_var-1", nil), http.StatusOK, "GET", "/variables/name/{name}")
	ts.expect(ts.do("GET", "/api/variables/name/missing", nil), http.StatusNotFound, variableNotFound)
	ts.expect(ts.do("GET", "/api/variables/6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11", nil), http.StatusNotFound, variableNotFound)

	// Scalars and an explicit null are valid values; tags default to [].
	n := ts.createVariable(map[string]any{"name": "nullable", "value": nil})
	require.Equal(t, "null", string(n.Value))
	require.Equal(t, []string{}, n.Tags)
	ts.createVariable(map[string]any{"name": "num", "value": 1.5})

	// PATCH by id: rename and retag.
	require.Equal(t, http.StatusNoContent, ts.do("PATCH", byID, map[string]any{"name": "renamed", "tags": []string{"u"}}).Status)
	v2 := mustVariable(t, ts.ok(ts.do("GET", "/api/variables/name/renamed", nil), http.StatusOK, "GET", "/variables/name/{name}"))
	require.Equal(t, v.ID, v2.ID)
	require.Equal(t, []string{"u"}, v2.Tags)
	require.JSONEq(t, `{"k":[1,2]}`, string(v2.Value), "value untouched when absent")

	// PATCH by name: an explicit null value is applied.
	require.Equal(t, http.StatusNoContent, ts.do("PATCH", "/api/variables/name/renamed", `{"value":null}`).Status)
	v3 := mustVariable(t, ts.ok(ts.do("GET", byID, nil), http.StatusOK, "GET", "/variables/{id}"))
	require.Equal(t, "null", string(v3.Value))
	require.Equal(t, []string{"u"}, v3.Tags)

	// Renaming onto a taken name is Prefect's integrity conflict.
	ts.expect(ts.do("PATCH", byID, map[string]any{"name": "num"}), http.StatusConflict,
		`{"detail":"Data integrity conflict. This usually means a unique or foreign key constraint was violated. See server logs for details."}`)
	ts.expect(ts.do("PATCH", "/api/variables/name/missing", map[string]any{"value": 1}), http.StatusNotFound, variableNotFound)
	ts.expect(ts.do("PATCH", "/api/variables/6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11", map[string]any{"value": 1}), http.StatusNotFound, variableNotFound)

	require.Equal(t, http.StatusNoContent, ts.do("DELETE", byID, nil).Status)
	ts.expect(ts.do("DELETE", byID, nil), http.StatusNotFound, variableNotFound)
	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/variables/name/num", nil).Status)
	ts.expect(ts.do("DELETE", "/api/variables/name/num", nil), http.StatusNotFound, variableNotFound)
}

func mustVariable(t *testing.T, body []byte) apitype.Variable {
	t.Helper()
	var v apitype.Variable
	require.NoError(t, json.Unmarshal(body, &v))
	return v
}

func TestVariableValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	detail := func(r response) ValidationDetail {
		t.Helper()
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "body %s", r.Body)
		var v validationBody
		require.NoError(t, json.Unmarshal(r.Body, &v))
		require.Equal(t, "Invalid request received.", v.ExceptionMessage)
		require.Len(t, v.ExceptionDetail, 1)
		return v.ExceptionDetail[0]
	}

	d := detail(ts.do("POST", "/api/variables/", map[string]any{"name": "Bad Name", "value": 1}))
	require.Equal(t, "Value error, Variable name must only contain lowercase letters, numbers, and dashes or underscores.", d.Msg)
	require.Equal(t, []any{"body", "name"}, d.Loc)

	d = detail(ts.do("POST", "/api/variables/", map[string]any{"name": strings.Repeat("a", 256), "value": 1}))
	require.Equal(t, "string_too_long", d.Type)
	require.Equal(t, "String should have at most 255 characters", d.Msg)
	ts.createVariable(map[string]any{"name": strings.Repeat("a", 255), "value": 1})

	d = detail(ts.do("POST", "/api/variables/", map[string]any{"name": "v"}))
	require.Equal(t, "missing", d.Type)
	require.Equal(t, []any{"body", "value"}, d.Loc)

	// The serialised value may be 5000 characters, not more: a string of
	// 4998 characters serialises to 5000 with its quotes.
	ts.createVariable(map[string]any{"name": "at-limit", "value": strings.Repeat("x", 4998)})
	d = detail(ts.do("POST", "/api/variables/", map[string]any{"name": "too-long", "value": strings.Repeat("x", 4999)}))
	require.Equal(t, "Value error, Variable value must be less than 5000 characters", d.Msg)
	d = detail(ts.do("PATCH", "/api/variables/name/at-limit", map[string]any{"value": strings.Repeat("x", 4999)}))
	require.Equal(t, []any{"body", "value"}, d.Loc)
	d = detail(ts.do("PATCH", "/api/variables/name/at-limit", map[string]any{"name": "UPPER"}))
	require.Equal(t, []any{"body", "name"}, d.Loc)

	ts.expect(ts.do("GET", "/api/variables/name/too-long", nil), http.StatusNotFound, variableNotFound)
}

func TestVariableFilterCount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for _, n := range []string{"b", "a", "c"} {
		ts.createVariable(map[string]any{"name": n, "value": n, "tags": []string{"tag-" + n}})
	}
	body := ts.ok(ts.do("POST", "/api/variables/filter", nil), http.StatusOK, "POST", "/variables/filter")
	var vs []apitype.Variable
	require.NoError(t, json.Unmarshal(body, &vs))
	require.Len(t, vs, 3)
	require.Equal(t, "a", vs[0].Name)

	body = ts.ok(ts.do("POST", "/api/variables/filter", map[string]any{"sort": "NAME_DESC", "limit": 1, "offset": 1}),
		http.StatusOK, "POST", "/variables/filter")
	require.NoError(t, json.Unmarshal(body, &vs))
	require.Len(t, vs, 1)
	require.Equal(t, "b", vs[0].Name)

	body = ts.ok(ts.do("POST", "/api/variables/filter", map[string]any{"variables": map[string]any{"name": map[string]any{"any_": []string{"c"}}}}),
		http.StatusOK, "POST", "/variables/filter")
	require.NoError(t, json.Unmarshal(body, &vs))
	require.Len(t, vs, 1)
	require.Equal(t, "c", vs[0].Name)

	ts.expect(ts.do("POST", "/api/variables/filter", map[string]any{"limit": 201}), http.StatusUnprocessableEntity,
		`{"detail":"Invalid limit: must be less than or equal to 200."}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/variables/filter", map[string]any{"sort": "NOPE"}).Status)

	require.Equal(t, "3", string(ts.ok(ts.do("POST", "/api/variables/count", nil), http.StatusOK, "POST", "/variables/count")))
	require.Equal(t, "1", string(ts.ok(ts.do("POST", "/api/variables/count",
		map[string]any{"variables": map[string]any{"tags": map[string]any{"all_": []string{"tag-a"}}}}), http.StatusOK, "POST", "/variables/count")))
}
