package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

const limitV2NotFound = `{"detail":"Concurrency Limit not found"}`

func (ts *testServer) createLimitV2(body any) apitype.ConcurrencyLimitV2 {
	ts.t.Helper()
	raw := ts.ok(ts.do("POST", "/api/v2/concurrency_limits/", body), http.StatusCreated, "POST", "/v2/concurrency_limits/")
	var l apitype.ConcurrencyLimitV2
	require.NoError(ts.t, json.Unmarshal(raw, &l))
	return l
}

func (ts *testServer) readLimitV2(idOrName string) apitype.GlobalConcurrencyLimitResponse {
	ts.t.Helper()
	raw := ts.ok(ts.do("GET", "/api/v2/concurrency_limits/"+idOrName, nil), http.StatusOK, "GET", "/v2/concurrency_limits/{id_or_name}")
	var l apitype.GlobalConcurrencyLimitResponse
	require.NoError(ts.t, json.Unmarshal(raw, &l))
	return l
}

func TestConcurrencyLimitV2CRUD(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	l := ts.createLimitV2(map[string]any{"name": "db", "limit": 2})
	require.True(t, l.Active)
	require.Equal(t, 2, l.Limit)
	require.Equal(t, 2.0, l.AvgSlotOccupancySeconds)
	ts.createLimitV2(map[string]any{"name": "api", "limit": 1, "active": false, "slot_decay_per_second": 0.5})

	ts.expect(ts.do("POST", "/api/v2/concurrency_limits/", map[string]any{"name": "db", "limit": 1}), http.StatusConflict,
		`{"detail":"Data integrity conflict. This usually means a unique or foreign key constraint was violated. See server logs for details."}`)
	for _, bad := range []map[string]any{
		{"name": "a/b", "limit": 1}, {"name": "x", "limit": -1}, {"name": "x"}, {"limit": 1},
		{"name": "x", "limit": 1, "slot_decay_per_second": -1},
	} {
		r := ts.do("POST", "/api/v2/concurrency_limits/", bad)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v: %s", bad, r.Body)
	}

	require.Equal(t, l.ID, ts.readLimitV2(l.ID.String()).ID)
	got := ts.readLimitV2("db")
	require.Equal(t, apitype.GlobalConcurrencyLimitResponse{ID: l.ID, Created: l.Created, Updated: l.Updated,
		Active: true, Name: "db", Limit: 2}, got)
	ts.expect(ts.do("GET", "/api/v2/concurrency_limits/missing", nil), http.StatusNotFound, limitV2NotFound)
	ts.expect(ts.do("GET", "/api/v2/concurrency_limits/"+uuid.NewString(), nil), http.StatusNotFound, limitV2NotFound)

	raw := ts.ok(ts.do("POST", "/api/v2/concurrency_limits/filter", map[string]any{}), http.StatusOK, "POST", "/v2/concurrency_limits/filter")
	var list []apitype.GlobalConcurrencyLimitResponse
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Len(t, list, 2)
	require.Equal(t, "api", list[0].Name, "sorted by name")
	raw = ts.ok(ts.do("POST", "/api/v2/concurrency_limits/filter", map[string]any{"offset": 1, "limit": 5}), http.StatusOK, "POST", "/v2/concurrency_limits/filter")
	require.NoError(t, json.Unmarshal(raw, &list))
	require.Equal(t, "db", list[0].Name)

	require.Equal(t, http.StatusNoContent, ts.do("PATCH", "/api/v2/concurrency_limits/db", map[string]any{"limit": 5, "name": "db2"}).Status)
	require.Equal(t, 5, ts.readLimitV2(l.ID.String()).Limit)
	ts.expect(ts.do("PATCH", "/api/v2/concurrency_limits/db", map[string]any{"limit": 5}), http.StatusNotFound, limitV2NotFound)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("PATCH", "/api/v2/concurrency_limits/db2", map[string]any{"limit": -2}).Status)

	require.Equal(t, http.StatusNoContent, ts.do("DELETE", "/api/v2/concurrency_limits/"+l.ID.String(), nil).Status)
	ts.expect(ts.do("DELETE", "/api/v2/concurrency_limits/db2", nil), http.StatusNotFound, limitV2NotFound)
}

func TestConcurrencyLimitV2Leases(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	const path = "/v2/concurrency_limits/increment-with-lease"
	holder := map[string]any{"type": "task_run", "id": uuid.NewString()}

	// No limit: a lease id and no limits, so the client skips renew/release.
	raw := ts.ok(ts.do("POST", "/api"+path, map[string]any{"names": []string{"tag:none"}, "slots": 1, "lease_duration": 60, "holder": holder}),
		http.StatusOK, "POST", path)
	var res apitype.ConcurrencyLimitWithLeaseResponse
	require.NoError(t, json.Unmarshal(raw, &res))
	require.NotEqual(t, uuid.Nil, res.LeaseID)
	require.Equal(t, []apitype.MinimalConcurrencyLimitResponse{}, res.Limits)

	l := ts.createLimitV2(map[string]any{"name": "tag:db", "limit": 1})
	raw = ts.ok(ts.do("POST", "/api"+path, map[string]any{"names": []string{"tag:db"}, "slots": 1, "lease_duration": 60, "holder": holder}),
		http.StatusOK, "POST", path)
	require.NoError(t, json.Unmarshal(raw, &res))
	require.Equal(t, []apitype.MinimalConcurrencyLimitResponse{{ID: l.ID, Name: "tag:db", Limit: 1}}, res.Limits)
	require.Equal(t, 1, ts.readLimitV2("tag:db").ActiveSlots)

	full := ts.do("POST", "/api"+path, map[string]any{"names": []string{"tag:db"}, "slots": 1})
	ts.expect(full, http.StatusLocked, `{"detail":"Locked"}`)
	wait, err := strconv.ParseFloat(full.Header.Get("Retry-After"), 64)
	require.NoError(t, err)
	// Tag limits cap the wait at the tag slot wait (10 s), jittered up to 30 %.
	require.Greater(t, wait, 0.0)
	require.LessOrEqual(t, wait, 1.3*10)

	renew := "/api/v2/concurrency_limits/leases/" + res.LeaseID.String() + "/renew"
	require.Equal(t, http.StatusNoContent, ts.do("POST", renew, map[string]any{"lease_duration": 120}).Status)
	ts.expect(ts.do("POST", "/api/v2/concurrency_limits/leases/"+uuid.NewString()+"/renew", map[string]any{}), http.StatusGone,
		`{"detail":"Lease not found - it may have expired or been revoked"}`)
	require.Equal(t, http.StatusUnprocessableEntity, ts.do("POST", renew, map[string]any{"lease_duration": 10}).Status)

	ts.advance(30 * time.Second)
	release := map[string]any{"lease_id": res.LeaseID}
	require.Equal(t, http.StatusNoContent, ts.do("POST", "/api/v2/concurrency_limits/decrement-with-lease", release).Status)
	require.Equal(t, 0, ts.readLimitV2("tag:db").ActiveSlots)
	require.Equal(t, http.StatusNoContent, ts.do("POST", "/api/v2/concurrency_limits/decrement-with-lease", release).Status, "idempotent")
	require.Equal(t, 0, ts.readLimitV2("tag:db").ActiveSlots, "a second release frees nothing")
	ts.expect(ts.do("POST", renew, map[string]any{}), http.StatusGone, `{"detail":"Lease not found - it may have expired or been revoked"}`)

	for _, bad := range []map[string]any{
		{"names": []string{}, "slots": 1}, {"names": []string{"tag:db"}, "slots": 0}, {"names": []string{"tag:db"}},
		{"names": []string{"tag:db"}, "slots": 1, "lease_duration": 59}, {"names": []string{"tag:db"}, "slots": 1, "lease_duration": 86401},
		{"names": []string{"tag:db"}, "slots": 1, "mode": "other"}, {"names": []string{"tag:db"}, "slots": 1, "holder": map[string]any{"type": "x", "id": uuid.NewString()}},
	} {
		r := ts.do("POST", "/api"+path, bad)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v: %s", bad, r.Body)
	}
	ts.expect(ts.do("POST", "/api"+path, map[string]any{"names": []string{"tag:db"}, "slots": 2}), http.StatusUnprocessableEntity,
		`{"detail":"Slots requested is greater than the limit"}`)
	require.Equal(t, 0, ts.readLimitV2("tag:db").ActiveSlots, "a refused request takes nothing")
}

func TestConcurrencyLimitV2RateLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.createLimitV2(map[string]any{"name": "rl", "limit": 2, "slot_decay_per_second": 1})
	ts.createLimitV2(map[string]any{"name": "plain", "limit": 2})
	inc := func(names ...string) response {
		return ts.do("POST", "/api/v2/concurrency_limits/increment", map[string]any{"names": names, "slots": 1, "mode": "rate_limit"})
	}
	ts.ok(inc("rl"), http.StatusOK, "POST", "/v2/concurrency_limits/increment")
	ts.ok(inc("rl"), http.StatusOK, "POST", "/v2/concurrency_limits/increment")
	denied := inc("rl")
	require.Equal(t, http.StatusLocked, denied.Status)
	wait, err := strconv.ParseFloat(denied.Header.Get("Retry-After"), 64)
	require.NoError(t, err)
	require.LessOrEqual(t, wait, 1.3*1, "one denied slot at one slot per second")
	ts.advance(1500 * time.Millisecond)
	require.Equal(t, 1, ts.readLimitV2("rl").ActiveSlots, "one slot decayed")
	ts.ok(inc("rl"), http.StatusOK, "POST", "/v2/concurrency_limits/increment")

	ts.expect(inc("rl", "plain"), http.StatusUnprocessableEntity, `{"detail":"Only concurrency limits with slot decay can be used for `+
		`rate limiting. The following limits do not have a decay configured: 'plain'"}`)
}

func TestConcurrencyLimitV2IncrementDecrement(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	a := ts.createLimitV2(map[string]any{"name": "a", "limit": 3})
	raw := ts.ok(ts.do("POST", "/api/v2/concurrency_limits/increment", map[string]any{"names": []string{"a", "nope"}, "slots": 2}),
		http.StatusOK, "POST", "/v2/concurrency_limits/increment")
	require.JSONEq(t, `[{"id":"`+a.ID.String()+`","name":"a","limit":3}]`, string(raw))
	require.Equal(t, 2, ts.readLimitV2("a").ActiveSlots)

	raw = ts.ok(ts.do("POST", "/api/v2/concurrency_limits/decrement", map[string]any{"names": []string{"a"}, "slots": 1, "occupancy_seconds": 4}),
		http.StatusOK, "POST", "/v2/concurrency_limits/decrement")
	require.JSONEq(t, `[{"id":"`+a.ID.String()+`","name":"a","limit":3}]`, string(raw))
	require.Equal(t, 1, ts.readLimitV2("a").ActiveSlots)
	raw = ts.ok(ts.do("POST", "/api/v2/concurrency_limits/decrement", map[string]any{"names": []string{"nope"}, "slots": 1}),
		http.StatusOK, "POST", "/v2/concurrency_limits/decrement")
	require.JSONEq(t, `[]`, string(raw))
	require.Equal(t, http.StatusUnprocessableEntity,
		ts.do("POST", "/api/v2/concurrency_limits/decrement", map[string]any{"names": []string{"a"}, "slots": 1, "occupancy_seconds": 0}).Status)
}

func TestClampedPoissonBounds(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0.0, clampedPoisson(0, func() float64 { return 0.5 }))
	hi := clampedPoisson(10, func() float64 { return 1 })
	lo := clampedPoisson(10, func() float64 { return 0 })
	require.InDelta(t, 13, hi, 1e-9, "upper clamp is 1.3 × average")
	require.Greater(t, lo, 0.0)
	require.Less(t, lo, 10.0)
	mid := clampedPoisson(10, func() float64 { return 0.5 })
	require.Greater(t, mid, lo)
	require.Less(t, mid, hi)
	require.Equal(t, "2.0", formatSeconds(2))
	require.Equal(t, "1.25", formatSeconds(1.25))
}
