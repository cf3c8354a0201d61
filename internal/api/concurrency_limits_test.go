package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const tagLimitNotFound = `{"detail":"Concurrency limit not found"}`

func mustTagLimit(t *testing.T, raw []byte) apitype.ConcurrencyLimit {
	t.Helper()
	var l apitype.ConcurrencyLimit
	require.NoError(t, json.Unmarshal(raw, &l))
	return l
}

func TestTagConcurrencyLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	created := ts.do("POST", "/api/concurrency_limits/", map[string]any{"tag": "db", "concurrency_limit": 1})
	require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
	validateResponse(t, "POST", "/concurrency_limits/", http.StatusOK, created.Body)
	l := mustTagLimit(t, created.Body)
	require.Equal(t, "db", l.Tag)
	require.Equal(t, []uuid.UUID{}, l.ActiveSlots)
	// It is the v2 limit "tag:db".
	require.Equal(t, l.ID, ts.readLimitV2("tag:db").ID)

	up := mustTagLimit(t, ts.ok(ts.do("POST", "/api/concurrency_limits/", map[string]any{"tag": "db", "concurrency_limit": 2}),
		http.StatusOK, "POST", "/concurrency_limits/"))
	require.Equal(t, l.ID, up.ID)
	require.Equal(t, 2, up.ConcurrencyLimit)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", "/api/concurrency_limits/", map[string]any{"tag": "x"}).Status)

	run1, run2, run3 := uuid.New(), uuid.New(), uuid.New()
	inc := func(run uuid.UUID) response {
		return ts.do("POST", "/api/concurrency_limits/increment", map[string]any{"names": []string{"db", "free"}, "task_run_id": run})
	}
	raw := ts.ok(inc(run1), http.StatusOK, "POST", "/concurrency_limits/increment")
	require.JSONEq(t, `[{"id":"`+l.ID.String()+`","name":"db","limit":2}]`, string(raw))
	ts.ok(inc(run2), http.StatusOK, "POST", "/concurrency_limits/increment")
	full := inc(run3)
	ts.expect(full, http.StatusLocked, `{"detail":"Concurrency limit for the db tag has been reached"}`)
	require.Equal(t, "10.0", full.Header.Get("Retry-After"))

	got := mustTagLimit(t, ts.ok(ts.do("GET", "/api/concurrency_limits/tag/db", nil), http.StatusOK, "GET", "/concurrency_limits/tag/{tag}"))
	require.ElementsMatch(t, []uuid.UUID{run1, run2}, got.ActiveSlots)
	ts.ok(ts.do("GET", "/api/concurrency_limits/"+l.ID.String(), nil), http.StatusOK, "GET", "/concurrency_limits/{id}")

	raw = ts.ok(ts.do("POST", "/api/concurrency_limits/decrement", map[string]any{"names": []string{"db"}, "task_run_id": run1}),
		http.StatusOK, "POST", "/concurrency_limits/decrement")
	require.JSONEq(t, `[{"id":"`+l.ID.String()+`","name":"tag:db","limit":2}]`, string(raw))
	require.Equal(t, 1, ts.readLimitV2("tag:db").ActiveSlots)
	ts.ok(inc(run3), http.StatusOK, "POST", "/concurrency_limits/increment")

	// Reset: the override becomes the holder set.
	res := ts.do("POST", "/api/concurrency_limits/tag/db/reset", map[string]any{"slot_override": []uuid.UUID{run1}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	got = mustTagLimit(t, ts.ok(ts.do("GET", "/api/concurrency_limits/tag/db", nil), http.StatusOK, "GET", "/concurrency_limits/tag/{tag}"))
	require.Equal(t, []uuid.UUID{run1}, got.ActiveSlots)
	require.Equal(t, 1, ts.readLimitV2("tag:db").ActiveSlots)
	ts.expect(ts.do("POST", "/api/concurrency_limits/tag/nope/reset", map[string]any{}), http.StatusNotFound, tagLimitNotFound)

	// A v2 limit without the tag: prefix is not a v1 limit.
	other := ts.createLimitV2(map[string]any{"name": "global", "limit": 1})
	ts.expect(ts.do("GET", "/api/concurrency_limits/"+other.ID.String(), nil), http.StatusNotFound, tagLimitNotFound)
	raw = ts.ok(ts.do("POST", "/api/concurrency_limits/filter", map[string]any{}), http.StatusOK, "POST", "/concurrency_limits/filter")
	var list []apitype.ConcurrencyLimit
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Len(t, list, 1)

	ts.expect(ts.do("DELETE", "/api/concurrency_limits/tag/db", nil), http.StatusOK, `null`)
	ts.expect(ts.do("DELETE", "/api/concurrency_limits/tag/db", nil), http.StatusNotFound, tagLimitNotFound)
	ts.expect(ts.do("GET", "/api/concurrency_limits/tag/db", nil), http.StatusNotFound, tagLimitNotFound)
	ts.expect(ts.do("DELETE", "/api/concurrency_limits/"+uuid.NewString(), nil), http.StatusNotFound, tagLimitNotFound)
}

// TestTagConcurrencyLimitsV1Rows covers rows of the v1 table (pre-v2 data):
// honoured by reads, increments and decrements when no v2 limit shadows them.
func TestTagConcurrencyLimitsV1Rows(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	old, err := ts.store.TagConcurrencyLimitCreate(ctx, &storage.TagConcurrencyLimitCreateParams{ID: uuid.New(), Tag: "old", Limit: 1, Now: ts.clock()})
	require.NoError(t, err)
	_, err = ts.store.TagConcurrencyLimitCreate(ctx, &storage.TagConcurrencyLimitCreateParams{ID: uuid.New(), Tag: "zero", Limit: 0, Now: ts.clock()})
	require.NoError(t, err)

	run1, run2 := uuid.New(), uuid.New()
	raw := ts.ok(ts.do("POST", "/api/concurrency_limits/increment", map[string]any{"names": []string{"old"}, "task_run_id": run1}),
		http.StatusOK, "POST", "/concurrency_limits/increment")
	require.JSONEq(t, `[{"id":"`+old.ID.String()+`","name":"old","limit":1}]`, string(raw))
	ts.expect(ts.do("POST", "/api/concurrency_limits/increment", map[string]any{"names": []string{"old"}, "task_run_id": run2}),
		http.StatusLocked, `{"detail":"Concurrency limit for the old tag has been reached"}`)
	ts.expect(ts.do("POST", "/api/concurrency_limits/increment", map[string]any{"names": []string{"zero"}, "task_run_id": run2}),
		http.StatusLocked, `{"detail":"The concurrency limit on tag \"zero\" is 0 and will deadlock if the task tries to run again."}`)

	got := mustTagLimit(t, ts.ok(ts.do("GET", "/api/concurrency_limits/"+old.ID.String(), nil), http.StatusOK, "GET", "/concurrency_limits/{id}"))
	require.Equal(t, []uuid.UUID{run1}, got.ActiveSlots)
	raw = ts.ok(ts.do("POST", "/api/concurrency_limits/filter", map[string]any{"limit": 1, "offset": 0}), http.StatusOK, "POST", "/concurrency_limits/filter")
	var list []apitype.ConcurrencyLimit
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Equal(t, "old", list[0].Tag)

	raw = ts.ok(ts.do("POST", "/api/concurrency_limits/decrement", map[string]any{"names": []string{"old"}, "task_run_id": run1}),
		http.StatusOK, "POST", "/concurrency_limits/decrement")
	require.JSONEq(t, `[{"id":"`+old.ID.String()+`","name":"old","limit":1}]`, string(raw))
	got = mustTagLimit(t, ts.ok(ts.do("GET", "/api/concurrency_limits/tag/old", nil), http.StatusOK, "GET", "/concurrency_limits/tag/{tag}"))
	require.Equal(t, []uuid.UUID{}, got.ActiveSlots)

	require.Equal(t, http.StatusOK, ts.do("POST", "/api/concurrency_limits/tag/old/reset", map[string]any{"slot_override": []uuid.UUID{run2}}).Status)
	got = mustTagLimit(t, ts.ok(ts.do("GET", "/api/concurrency_limits/tag/old", nil), http.StatusOK, "GET", "/concurrency_limits/tag/{tag}"))
	require.Equal(t, []uuid.UUID{run2}, got.ActiveSlots)
	ts.expect(ts.do("DELETE", "/api/concurrency_limits/"+old.ID.String(), nil), http.StatusOK, `null`)
	ts.expect(ts.do("GET", "/api/concurrency_limits/tag/old", nil), http.StatusNotFound, tagLimitNotFound)
}
