package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/settings"
)

func (ts *testServer) createFlow(name string, tags ...string) apitype.Flow {
	ts.t.Helper()
	if tags == nil {
		tags = []string{}
	}
	body := ts.ok(ts.do("POST", "/api/flows/", map[string]any{"name": name, "tags": tags}), http.StatusCreated, "POST", "/flows/")
	var f apitype.Flow
	require.NoError(ts.t, json.Unmarshal(body, &f))
	return f
}

func TestFlowCreateAndRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)

	body := ts.ok(ts.do("POST", "/api/flows/", map[string]any{"name": "etl", "tags": []string{"a"}, "labels": map[string]any{"team": "data", "tier": 2}}),
		http.StatusCreated, "POST", "/flows/")
	var f apitype.Flow
	require.NoError(t, json.Unmarshal(body, &f))
	require.Equal(t, "etl", f.Name)
	require.Equal(t, []string{"a"}, f.Tags)
	require.Equal(t, map[string]any{"team": "data", "tier": float64(2)}, f.Labels)

	// Same name again: the existing flow, 200.
	body = ts.ok(ts.do("POST", "/api/flows/", map[string]any{"name": "etl"}), http.StatusOK, "POST", "/flows/")
	var again apitype.Flow
	require.NoError(t, json.Unmarshal(body, &again))
	require.Equal(t, f.ID, again.ID)

	// No Content-Type (clients < 3.6.19): treated as JSON.
	ts.ok(ts.do("POST", "/api/flows/", `{"name":"no-ct"}`, "Content-Type", ""), http.StatusCreated, "POST", "/flows/")

	got := ts.ok(ts.do("GET", "/api/flows/"+f.ID.String(), nil), http.StatusOK, "GET", "/flows/{id}")
	require.JSONEq(t, string(body), string(got))
	got = ts.ok(ts.do("GET", "/api/flows/name/etl", nil), http.StatusOK, "GET", "/flows/name/{name}")
	require.JSONEq(t, string(body), string(got))

	ts.expect(ts.do("GET", "/api/flows/6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11", nil), http.StatusNotFound, `{"detail":"Flow not found"}`)
	ts.expect(ts.do("GET", "/api/flows/name/nope", nil), http.StatusNotFound, `{"detail":"Flow not found"}`)

	// Prefect's routes are /{id:uuid}: anything else matches no route.
	for _, id := range []string{"not-a-uuid", "urn:uuid:6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11", "{6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11}"} {
		ts.expect(ts.do("GET", "/api/flows/"+id, nil), http.StatusNotFound, `{"detail":"Not Found"}`)
		ts.expect(ts.do("PATCH", "/api/flows/"+id, map[string]any{}), http.StatusNotFound, `{"detail":"Not Found"}`)
	}
}

func TestFlowCreateValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.expect(ts.do("POST", "/api/flows/", `{"tags":[]}`), http.StatusUnprocessableEntity, `{
		"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","name"],"msg":"Field required","type":"missing","input":{"tags":[]}}],
		"request_body":{"tags":[]}}`)
	ts.expect(ts.do("POST", "/api/flows/", `{"name":123}`), http.StatusUnprocessableEntity, `{
		"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","name"],"msg":"Input should be a valid string","type":"string_type","input":123}],
		"request_body":{"name":123}}`)
	ts.expect(ts.do("POST", "/api/flows/", `{"name":"a/b"}`), http.StatusUnprocessableEntity, `{
		"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","name"],"msg":"String should match pattern '^[^/%&><]+$'","type":"string_pattern_mismatch","input":"a/b","ctx":{"pattern":"^[^/%&><]+$"}}],
		"request_body":{"name":"a/b"}}`)
	ts.expect(ts.do("POST", "/api/flows/", `{"name":"x","tags":"notalist"}`), http.StatusUnprocessableEntity, `{
		"exception_message":"Invalid request received.",
		"exception_detail":[{"loc":["body","tags"],"msg":"Input should be a valid list","type":"list_type","input":"notalist"}],
		"request_body":{"name":"x","tags":"notalist"}}`)

	r := ts.do("POST", "/api/flows/", `{"name": "x",`)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	var v validationBody
	require.NoError(t, json.Unmarshal(r.Body, &v))
	require.Equal(t, "json_invalid", v.ExceptionDetail[0].Type)
	require.Equal(t, `{"name": "x",`, v.RequestBody)

	r = ts.do("POST", "/api/flows/", `{"name":"x"}`, "Content-Type", "text/plain")
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "non-JSON content types are not parsed")

	// Nothing above was stored.
	require.Equal(t, "0", string(ts.ok(ts.do("POST", "/api/flows/count", nil), http.StatusOK, "POST", "/flows/count")))
}

func TestFlowFilterCountPaginate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(s *settings.Server) { s.DefaultLimit = 3 })
	for _, n := range []string{"delta", "alpha", "charlie", "bravo"} {
		tags := []string{"all"}
		if n == "alpha" || n == "bravo" {
			tags = append(tags, "early")
		}
		ts.createFlow(n, tags...)
	}
	names := func(body []byte) []string {
		var fs []apitype.Flow
		require.NoError(t, json.Unmarshal(body, &fs))
		out := []string{}
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}

	body := ts.ok(ts.do("POST", "/api/flows/filter", nil), http.StatusOK, "POST", "/flows/filter")
	require.Equal(t, []string{"alpha", "bravo", "charlie"}, names(body), "default sort NAME_ASC, default limit 3")
	body = ts.ok(ts.do("POST", "/api/flows/filter", map[string]any{"sort": "NAME_DESC", "limit": 2, "offset": 1}), http.StatusOK, "POST", "/flows/filter")
	require.Equal(t, []string{"charlie", "bravo"}, names(body))
	body = ts.ok(ts.do("POST", "/api/flows/filter", map[string]any{"flows": map[string]any{"tags": map[string]any{"all_": []string{"early"}}}}),
		http.StatusOK, "POST", "/flows/filter")
	require.Equal(t, []string{"alpha", "bravo"}, names(body))
	body = ts.ok(ts.do("POST", "/api/flows/filter", map[string]any{"flows": map[string]any{"name": map[string]any{"like_": "HAR"}}, "flow_runs": nil}),
		http.StatusOK, "POST", "/flows/filter")
	require.Equal(t, []string{"charlie"}, names(body))

	ts.expect(ts.do("POST", "/api/flows/filter", map[string]any{"limit": 4}), http.StatusUnprocessableEntity,
		`{"detail":"Invalid limit: must be less than or equal to 3."}`)
	ts.expect(ts.do("POST", "/api/flows/filter", map[string]any{"limit": -1}), http.StatusUnprocessableEntity,
		`{"detail":"Invalid limit: must be greater than or equal to 0."}`)
	r := ts.do("POST", "/api/flows/filter", map[string]any{"offset": -1})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), `"Input should be greater than or equal to 0"`)
	r = ts.do("POST", "/api/flows/filter", map[string]any{"sort": "SIDEWAYS"})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), `"Input should be 'CREATED_DESC', 'UPDATED_DESC', 'NAME_ASC' or 'NAME_DESC'"`)
	for _, key := range []string{"deployments", "work_pools"} {
		// A filter, even one without criteria, demands a deployment in
		// Prefect (an EXISTS), and no flow has one here (see
		// TestDeploymentCrossFilters for flows that do).
		for _, empty := range []any{map[string]any{}, map[string]any{"operator": "or_", "name": nil},
			map[string]any{"id": map[string]any{"any_": []string{}}}} {
			require.Equal(t, "0", string(ts.ok(ts.do("POST", "/api/flows/count", map[string]any{key: empty}), http.StatusOK, "POST", "/flows/count")))
		}
	}

	require.Equal(t, "4", string(ts.ok(ts.do("POST", "/api/flows/count", "{}"), http.StatusOK, "POST", "/flows/count")))
	require.Equal(t, "2", string(ts.ok(ts.do("POST", "/api/flows/count",
		map[string]any{"flows": map[string]any{"tags": map[string]any{"all_": []string{"early"}}}}), http.StatusOK, "POST", "/flows/count")))

	body = ts.ok(ts.do("POST", "/api/flows/paginate", map[string]any{"limit": 3, "page": 2}), http.StatusOK, "POST", "/flows/paginate")
	var page apitype.FlowPaginationResponse
	require.NoError(t, json.Unmarshal(body, &page))
	require.Equal(t, int64(4), page.Count)
	require.Equal(t, int64(2), page.Pages)
	require.Equal(t, 2, page.Page)
	require.Equal(t, 3, page.Limit)
	require.Len(t, page.Results, 1)
	require.Equal(t, "delta", page.Results[0].Name)
	r = ts.do("POST", "/api/flows/paginate", map[string]any{"page": 0})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, string(r.Body), `"Input should be greater than or equal to 1"`)
}

func TestFlowUpdateDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	f := ts.createFlow("patchme")
	path := "/api/flows/" + f.ID.String()

	r := ts.do("PATCH", path, map[string]any{"tags": []string{"x", "y"}})
	require.Equal(t, http.StatusNoContent, r.Status)
	require.Empty(t, r.Body)
	var got apitype.Flow
	require.NoError(t, json.Unmarshal(ts.ok(ts.do("GET", path, nil), http.StatusOK, "GET", "/flows/{id}"), &got))
	require.Equal(t, []string{"x", "y"}, got.Tags)

	missing := "/api/flows/6e8b3c55-0c2f-4b8e-9d3a-3b7a2b9f1e11"
	ts.expect(ts.do("PATCH", missing, map[string]any{"tags": []string{}}), http.StatusNotFound, `{"detail":"Flow not found"}`)

	require.Equal(t, http.StatusNoContent, ts.do("DELETE", path, nil).Status)
	ts.expect(ts.do("DELETE", path, nil), http.StatusNotFound, `{"detail":"Flow not found"}`)
	ts.expect(ts.do("GET", path, nil), http.StatusNotFound, `{"detail":"Flow not found"}`)
}

func TestFlowBulkDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	keep := ts.createFlow("keep", "keep")
	a := ts.createFlow("drop-a", "drop")
	b := ts.createFlow("drop-b", "drop")

	body := ts.ok(ts.do("POST", "/api/flows/bulk_delete", map[string]any{"flows": map[string]any{"tags": map[string]any{"all_": []string{"drop"}}}}),
		http.StatusOK, "POST", "/flows/bulk_delete")
	var resp apitype.FlowBulkDeleteResponse
	require.NoError(t, json.Unmarshal(body, &resp))
	require.ElementsMatch(t, []any{a.ID, b.ID}, []any{resp.Deleted[0], resp.Deleted[1]})
	require.Len(t, resp.Deleted, 2)
	ts.ok(ts.do("GET", "/api/flows/"+keep.ID.String(), nil), http.StatusOK, "GET", "/flows/{id}")

	body = ts.ok(ts.do("POST", "/api/flows/bulk_delete", map[string]any{"flows": map[string]any{"tags": map[string]any{"all_": []string{"drop"}}}}),
		http.StatusOK, "POST", "/flows/bulk_delete")
	require.JSONEq(t, `{"deleted":[]}`, string(body))

	for _, limit := range []int{0, 51} {
		r := ts.do("POST", "/api/flows/bulk_delete", map[string]any{"limit": limit})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "limit %d", limit)
	}
	ts.ok(ts.do("GET", "/api/flows/"+keep.ID.String(), nil), http.StatusOK, "GET", "/flows/{id}")
}

// Prefect's limit 0 is an empty page; storage reads a zero limit as "no
// limit", so the API must never pass it through.
func TestLimitZeroIsEmptyPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.createFlow("a")
	ts.createFlow("b")
	ts.ok(ts.do("POST", "/api/variables/", map[string]any{"name": "v", "value": 1}), http.StatusCreated, "POST", "/variables/")

	ts.expect(ts.do("POST", "/api/flows/filter", map[string]any{"limit": 0}), http.StatusOK, `[]`)
	ts.expect(ts.do("POST", "/api/variables/filter", map[string]any{"limit": 0}), http.StatusOK, `[]`)
	ts.expect(ts.do("POST", "/api/flows/paginate", map[string]any{"limit": 0}), http.StatusOK,
		`{"results":[],"count":2,"limit":0,"pages":0,"page":1}`)
	body := ts.ok(ts.do("POST", "/api/flows/filter", map[string]any{"limit": 1}), http.StatusOK, "POST", "/flows/filter")
	var one []apitype.Flow
	require.NoError(t, json.Unmarshal(body, &one))
	require.Len(t, one, 1)
}
