package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCollectionsWorkerMetadata(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	raw := ts.ok(ts.do("GET", "/api/collections/views/aggregate-worker-metadata", nil), http.StatusOK, "GET", "/collections/views/{view}")
	var view map[string]map[string]struct {
		Type                        string         `json:"type"`
		DefaultBaseJobConfiguration map[string]any `json:"default_base_job_configuration"`
	}
	require.NoError(t, json.Unmarshal(raw, &view))
	process := view["prefect"]["process"]
	require.Equal(t, "process", process.Type)
	require.Contains(t, process.DefaultBaseJobConfiguration, "job_configuration")
	require.Contains(t, process.DefaultBaseJobConfiguration, "variables")
	_, agent := view["prefect"]["prefect-agent"]
	require.False(t, agent)

	ts.expect(ts.do("GET", "/api/collections/views/nope", nil), http.StatusNotFound, `{"detail":"View nope not found in registry"}`)
	ts.expect(ts.do("GET", "/api/collections/views/demo-flows", nil), http.StatusNotFound,
		`{"detail":"Requested content missing for view demo-flows"}`)
}
