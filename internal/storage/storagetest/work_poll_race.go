package storagetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// PollRace is issue 4's worker race, driven through the HTTP API h (mounted
// at /api, without auth) over s: several workers poll the same pool at once
// and all get the same scheduled runs, then all propose PENDING for every
// run at once. Each run must be accepted exactly once; every other proposal
// is aborted, and each run holds a single PENDING state.
//
// It lives here, taking the handler, so each engine's tests can run it
// (the API package cannot see the Postgres test cluster).
func PollRace(t *testing.T, s storage.Store, h http.Handler) {
	const runs, workers = 40, 4
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f := newPollFixture(t, s)
	var ids []uuid.UUID
	for i := range runs {
		ids = append(ids, f.run(t, f.def, fmt.Sprintf("run-%02d", i), apitype.StateTypeScheduled, i))
	}

	// Phase 1: every worker polls before any claims, so all see every run.
	polls := make([][]uuid.UUID, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []apitype.WorkerFlowRun
			if status := post(t, srv, "/api/work_pools/pool/get_scheduled_flow_runs", `{}`, &got); status != http.StatusOK {
				t.Errorf("poll: status %d", status)
			}
			for _, r := range got {
				polls[w] = append(polls[w], r.FlowRun.ID)
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		require.ElementsMatch(t, ids, polls[w], "worker %d sees every run", w)
	}

	// Phase 2: all workers propose PENDING for all runs at once, half of
	// them in reverse order so claims collide at different moments.
	results := make([]map[uuid.UUID]string, workers)
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = map[uuid.UUID]string{}
			order := slices.Clone(polls[w])
			if w%2 == 1 {
				slices.Reverse(order)
			}
			<-start
			for _, id := range order {
				var res struct {
					Status string `json:"status"`
				}
				status := post(t, srv, "/api/flow_runs/"+id.String()+"/set_state",
					`{"state": {"type": "PENDING", "name": "Pending"}}`, &res)
				if status != http.StatusOK && status != http.StatusCreated {
					t.Errorf("set_state %s: status %d", id, status)
				}
				results[w][id] = res.Status
			}
		}()
	}
	close(start)
	wg.Wait()

	for _, id := range ids {
		accepted := 0
		for w := range workers {
			switch results[w][id] {
			case "ACCEPT":
				accepted++
			case "ABORT":
			default:
				t.Errorf("run %s, worker %d: unexpected %q", id, w, results[w][id])
			}
		}
		require.Equal(t, 1, accepted, "run %s is claimed exactly once", id)
		states, err := s.FlowRunStates(t.Context(), id)
		require.NoError(t, err)
		pending := 0
		for _, st := range states {
			if st.Type == apitype.StateTypePending {
				pending++
			}
		}
		require.Equal(t, 1, pending, "run %s entered PENDING once", id)
		fr, err := s.FlowRunGet(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, apitype.StateTypePending, *fr.StateType)
	}
	var left []apitype.WorkerFlowRun
	require.Equal(t, http.StatusOK, post(t, srv, "/api/work_pools/pool/get_scheduled_flow_runs", `{}`, &left))
	require.Empty(t, left, "claimed runs are no longer offered")
}

// post sends a JSON body and decodes the answer into out, retrying the 503
// a transient database conflict answers, as Prefect clients do.
func post(t *testing.T, srv *httptest.Server, path, body string, out any) int {
	for attempt := 0; ; attempt++ {
		res, err := srv.Client().Post(srv.URL+path, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Errorf("POST %s: %v", path, err)
			return 0
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Errorf("POST %s: %v", path, err)
			return 0
		}
		if res.StatusCode == http.StatusServiceUnavailable && attempt < 10 {
			continue
		}
		if res.StatusCode < 300 {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Errorf("POST %s: decode %s: %v", path, raw, err)
			}
		} else {
			t.Logf("POST %s: %d %s", path, res.StatusCode, raw)
		}
		return res.StatusCode
	}
}
