package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// LogsResult is the log-ingest workload's outcome.
type LogsResult struct {
	Logs     int
	Batch    int
	Clients  int
	Elapsed  time.Duration
	LogsPerS float64
	Request  Summary // per POST /logs/ batch
}

// RunLogs posts logs in batches of batch through clients concurrent workers,
// as the SDK's log handler ships them (POST /logs/ with a list).
func RunLogs(ctx context.Context, api *API, logs, batch, clients int) (*LogsResult, error) {
	var flow, fr idOnly
	if err := api.Post(ctx, "/flows/", map[string]any{"name": "bench-logs"}, &flow); err != nil {
		return nil, err
	}
	if err := api.Post(ctx, "/flow_runs/", map[string]any{"flow_id": flow.ID, "name": "logs"}, &fr); err != nil {
		return nil, err
	}
	start := time.Now().UTC().Add(-time.Hour)
	var batches [][]map[string]any
	for n := 0; n < logs; n += batch {
		var b []map[string]any
		for i := n; i < min(n+batch, logs); i++ {
			b = append(b, map[string]any{
				"name": "prefect.flow_runs", "level": 20, "flow_run_id": fr.ID, "task_run_id": nil,
				"message":   fmt.Sprintf("Processing record %d of the nightly batch: ok", i),
				"timestamp": start.Add(time.Duration(i) * time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00"),
			})
		}
		batches = append(batches, b)
	}
	work := make(chan []map[string]any, len(batches))
	for _, b := range batches {
		work <- b
	}
	close(work)
	var lat Latencies
	began := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for b := range work {
				t0 := time.Now()
				if api.Post(ctx, "/logs/", b, nil) == nil {
					lat.Add(time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	return &LogsResult{Logs: logs, Batch: batch, Clients: clients, Elapsed: elapsed,
		LogsPerS: float64(logs) / elapsed.Seconds(), Request: lat.Summary()}, nil
}
