package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
)

// eventsServer is a test server whose event pipeline the test holds, so it
// can Flush instead of waiting.
type eventsServer struct {
	*testServer
	events *events.Service
}

func newEventsServer(t *testing.T, mutate func(*settings.Server), opts events.Options) *eventsServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "warden.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.Migrate(ctx, time.Now())
	require.NoError(t, err)
	cfg := defaultTestSettings(t)
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := events.Start(st, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, svc.Close(context.Background())) })
	ts := &testServer{t: t, store: st, cfg: cfg, logBuf: &syncBuffer{},
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	h, err := NewHandler(Deps{Settings: cfg, Store: st, Events: svc, Now: ts.clock,
		Logger: slog.New(slog.NewTextHandler(ts.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	ts.handler = h
	ts.srv = httptest.NewServer(h)
	t.Cleanup(ts.srv.Close)
	return &eventsServer{testServer: ts, events: svc}
}

func (es *eventsServer) flush() {
	es.t.Helper()
	require.NoError(es.t, es.events.Flush(context.Background()))
}

// clientEvent is an event as the SDK sends it, occurring n seconds before
// the test clock.
func clientEvent(name, resourceID string, n int, related ...map[string]string) map[string]any {
	rel := []map[string]string{}
	rel = append(rel, related...)
	return map[string]any{
		"id":       uuid.NewString(),
		"occurred": time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(-time.Duration(n) * time.Second).Format(time.RFC3339Nano),
		"event":    name,
		"resource": map[string]string{"prefect.resource.id": resourceID, "prefect.resource.name": "res-" + resourceID},
		"related":  rel,
		"payload":  map[string]any{"n": n},
	}
}

func pageOf(t *testing.T, body []byte) apitype.EventPage {
	t.Helper()
	var p apitype.EventPage
	require.NoError(t, json.Unmarshal(body, &p))
	return p
}

func TestEventsPostFilterAndPaging(t *testing.T) {
	es := newEventsServer(t, nil, events.Options{})
	var sent []map[string]any
	for i := range 7 {
		sent = append(sent, clientEvent("prefect.flow-run.Running", fmt.Sprintf("prefect.flow-run.%d", i), 70-i*10,
			map[string]string{"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow"}))
	}
	other := clientEvent("prefect.worker.started", "prefect.worker.w", 5)
	r := es.do("POST", "/api/events", append(sent, other))
	require.Equal(t, 204, r.Status, "%s", r.Body)
	require.Empty(t, r.Body)
	// Duplicates (a client resending) change nothing.
	require.Equal(t, 204, es.do("POST", "/api/events", sent[:2]).Status)
	es.flush()

	body := es.ok(es.do("POST", "/api/events/filter", map[string]any{
		"filter": map[string]any{"event": map[string]any{"prefix": []string{"prefect.flow-run."}},
			"related": map[string]any{"role": []string{"flow"}}, "order": "ASC"},
		"limit": 3,
	}), 200, "POST", "/events/filter")
	page := pageOf(t, body)
	require.EqualValues(t, 7, page.Total)
	var got []string
	for {
		for _, e := range page.Events {
			got = append(got, e.ID.String())
			require.Equal(t, es.now, e.Received)
		}
		if page.NextPage == nil {
			break
		}
		u, err := url.Parse(*page.NextPage)
		require.NoError(t, err)
		require.Equal(t, "/api/events/filter/next", u.Path)
		body = es.ok(es.do("GET", u.RequestURI(), nil), 200, "GET", "/events/filter/next")
		page = pageOf(t, body)
	}
	var want []string
	for _, e := range sent {
		want = append(want, e["id"].(string))
	}
	require.Equal(t, want, got)

	// Default: newest first, limit 50, no next page.
	page = pageOf(t, es.ok(es.do("POST", "/api/events/filter", nil), 200, "POST", "/events/filter"))
	require.EqualValues(t, 8, page.Total)
	require.Equal(t, other["id"], page.Events[0].ID.String())
	require.Nil(t, page.NextPage)
	require.JSONEq(t, `{"n":5}`, string(page.Events[0].Payload))
}

func TestEventsValidation(t *testing.T) {
	es := newEventsServer(t, func(c *settings.Server) { c.AuthString = testAuth }, events.Options{})
	auth := []string{"Authorization", basicHeader(testAuth)}
	require.Equal(t, 401, es.do("POST", "/api/events", []any{}).Status)

	bad := clientEvent("x", "r", 0)
	bad["resource"] = map[string]string{"name": "no id"}
	r := es.do("POST", "/api/events", []any{clientEvent("ok", "r", 0), bad}, auth...)
	require.Equal(t, 422, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), "prefect.resource.id")
	r = es.do("POST", "/api/events", `{"not":"a list"}`, auth...)
	require.Equal(t, 422, r.Status)
	es.flush()
	page := pageOf(t, es.do("POST", "/api/events/filter", nil, auth...).Body)
	require.Zero(t, page.Total, "a rejected batch writes nothing")

	for _, body := range []string{`{"limit": 51}`, `{"limit": -1}`, `{"filter": {"order": "UP"}}`,
		`{"filter": {"text": {"query": "` + strings.Repeat("x", 201) + `"}}}`, `{"filter": {"id": {"id": ["nope"]}}}`} {
		r := es.do("POST", "/api/events/filter", body, auth...)
		require.Equal(t, 422, r.Status, "%s → %s", body, r.Body)
	}
	es.expect(es.do("GET", "/api/events/filter/next?page-token=!!!", nil, auth...), 403, `{"detail":"Forbidden"}`)
	es.expect(es.do("GET", "/api/events/filter/next?page-token=bm9wZQ", nil, auth...), 403, `{"detail":"Forbidden"}`)
	r = es.do("GET", "/api/events/filter/next", nil, auth...)
	require.Equal(t, 422, r.Status)
}

func TestEventsCountBy(t *testing.T) {
	es := newEventsServer(t, nil, events.Options{})
	evs := []any{
		clientEvent("prefect.a", "r1", 0), clientEvent("prefect.a", "r1", 10),
		clientEvent("prefect.b", "r2", 26*3600), // yesterday
	}
	require.Equal(t, 204, es.do("POST", "/api/events", evs).Status)
	es.flush()
	since := "2026-02-27T00:00:00Z"

	var counts []apitype.EventCount
	body := es.ok(es.do("POST", "/api/events/count-by/event", map[string]any{"filter": map[string]any{}}), 200, "POST", "/events/count-by/{countable}")
	require.NoError(t, json.Unmarshal(body, &counts))
	require.Len(t, counts, 2)
	require.Equal(t, "prefect.a", counts[0].Value)
	require.EqualValues(t, 2, counts[0].Count)

	body = es.ok(es.do("POST", "/api/events/count-by/resource", map[string]any{"filter": map[string]any{}}), 200, "POST", "/events/count-by/{countable}")
	require.NoError(t, json.Unmarshal(body, &counts))
	require.Equal(t, "r1", counts[0].Value)
	require.Equal(t, "res-r1", counts[0].Label)

	body = es.ok(es.do("POST", "/api/events/count-by/day", map[string]any{
		"filter": map[string]any{"occurred": map[string]any{"since": since, "until": "2026-03-01T12:00:00Z"}},
	}), 200, "POST", "/events/count-by/{countable}")
	require.NoError(t, json.Unmarshal(body, &counts))
	require.Len(t, counts, 3) // Feb 27, 28, Mar 1
	require.Equal(t, []int64{0, 1, 2}, []int64{counts[0].Count, counts[1].Count, counts[2].Count})
	require.Equal(t, "2026-02-28T00:00:00+00:00", counts[1].Label)

	body = es.ok(es.do("POST", "/api/events/count-by/time", map[string]any{
		"filter":    map[string]any{"occurred": map[string]any{"since": "2026-03-01T11:00:00Z", "until": "2026-03-01T12:00:00Z"}},
		"time_unit": "minute", "time_interval": 30,
	}), 200, "POST", "/events/count-by/{countable}")
	require.NoError(t, json.Unmarshal(body, &counts))
	require.Len(t, counts, 2)
	// The event at exactly 12:00 opens a bucket past until, which Prefect
	// does not lay out either.
	require.EqualValues(t, 1, counts[1].Count)

	r := es.do("POST", "/api/events/count-by/planet", map[string]any{"filter": map[string]any{}})
	require.Equal(t, 422, r.Status)
	require.Equal(t, 422, es.do("POST", "/api/events/count-by/event", `{}`).Status)
	require.Equal(t, 422, es.do("POST", "/api/events/count-by/time", map[string]any{"filter": map[string]any{}, "time_unit": "fortnight"}).Status)
	require.Equal(t, 422, es.do("POST", "/api/events/count-by/time", map[string]any{"filter": map[string]any{}, "time_interval": 0.001}).Status)
	r = es.do("POST", "/api/events/count-by/time", map[string]any{"filter": map[string]any{}, "time_unit": "second"})
	require.Equal(t, 422, r.Status)
	require.Contains(t, string(r.Body), "too many")
}
