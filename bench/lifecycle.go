package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// LifecycleResult is the flow-run lifecycle workload's outcome.
type LifecycleResult struct {
	Clients  int
	Duration time.Duration
	Runs     int64   // runs that reached COMPLETED
	RunsPerS float64 // Runs / Duration
	Run      Summary // create + 2 × set_state, per run
	Create   Summary // POST /flow_runs/
	SetState Summary // POST /flow_runs/{id}/set_state
	Rejected int64   // set_state answers other than ACCEPT
	PeakRSS  int64   // of the server tree, sampled during the load
	MeanRSS  int64
	CPUSec   float64 // server tree CPU seconds during the load
}

type stateResult struct {
	Status string `json:"status"`
}

type idOnly struct {
	ID string `json:"id"`
}

// RunLifecycle drives clients concurrent workers for d: each creates a flow
// run in PENDING (as the SDK's create_flow_run does), then sets RUNNING and
// COMPLETED through set_state, like a flow's engine.
func RunLifecycle(ctx context.Context, srv *Server, api *API, clients int, d time.Duration) (*LifecycleResult, error) {
	var flow idOnly
	if err := api.Post(ctx, "/flows/", map[string]any{"name": "bench-lifecycle"}, &flow); err != nil {
		return nil, fmt.Errorf("create flow: %w", err)
	}
	res := &LifecycleResult{Clients: clients, Duration: d}
	var run, create, set Latencies
	var runs, rejected atomic.Int64
	before, err := srv.Sample()
	if err != nil {
		return nil, err
	}
	stopSampling := sampleRSS(srv, res)
	loadCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for i := 0; loadCtx.Err() == nil; i++ {
				t0 := time.Now()
				var fr idOnly
				body := map[string]any{"flow_id": flow.ID, "name": fmt.Sprintf("lc-%d-%d", w, i),
					"state": map[string]any{"type": "PENDING"}}
				// Requests use ctx, not loadCtx: a run in flight when time is
				// up finishes, so no request is cut off mid-write.
				if api.Post(ctx, "/flow_runs/", body, &fr) != nil {
					continue
				}
				create.Add(time.Since(t0))
				ok := true
				for _, typ := range []string{"RUNNING", "COMPLETED"} {
					t1 := time.Now()
					var sr stateResult
					if api.Post(ctx, "/flow_runs/"+fr.ID+"/set_state",
						map[string]any{"state": map[string]any{"type": typ}, "force": false}, &sr) != nil {
						ok = false
						break
					}
					set.Add(time.Since(t1))
					if sr.Status != "ACCEPT" {
						rejected.Add(1)
						api.Errs.Add("set_state "+typ+" not accepted", sr.Status)
						ok = false
						break
					}
				}
				if ok {
					run.Add(time.Since(t0))
					runs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	stopSampling()
	after, err := srv.Sample()
	if err != nil {
		return nil, err
	}
	res.Duration = elapsed
	res.Runs, res.Rejected = runs.Load(), rejected.Load()
	res.RunsPerS = float64(res.Runs) / elapsed.Seconds()
	res.Run, res.Create, res.SetState = run.Summary(), create.Summary(), set.Summary()
	res.CPUSec = after.CPUSeconds - before.CPUSeconds
	return res, nil
}

// sampleRSS records the server tree's RSS every 200 ms into res until the
// returned function is called.
func sampleRSS(srv *Server, res *LifecycleResult) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var sum, n int64
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if s, err := srv.Sample(); err == nil {
				res.PeakRSS = max(res.PeakRSS, s.RSSBytes)
				sum += s.RSSBytes
				n++
				res.MeanRSS = sum / n
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
