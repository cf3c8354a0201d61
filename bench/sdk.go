package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// SDKResult is one end-to-end run of the real Prefect SDK.
type SDKResult struct {
	Tasks    int
	FlowWall time.Duration // the flow call, measured inside Python
	Recorded time.Duration // process start → every task run recorded COMPLETED
	Lost     int
}

// RunSDK runs bench/sdk_flow.py with n tasks against the server, from a
// fresh client home, and waits until the server has every task run.
func RunSDK(ctx context.Context, api *API, python, script, home string, n int) (*SDKResult, error) {
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, script, fmt.Sprint(n))
	cmd.Dir = home
	cmd.Env = append(baseEnv(home), "PREFECT_API_URL="+api.Base, "PREFECT_LOGGING_LEVEL=WARNING")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		api.Errs.Add("sdk flow", err.Error()+": "+tail(stderr.String(), 600))
		return nil, fmt.Errorf("sdk flow with %d tasks: %w\n%s", n, err, tail(stderr.String(), 2000))
	}
	_ = os.WriteFile(filepath.Join(home, fmt.Sprintf("sdk-%d.stderr", n)), stderr.Bytes(), 0o644)
	var got struct {
		FlowRunID string  `json:"flow_run_id"`
		Wall      float64 `json:"wall"`
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &got); err != nil {
				return nil, err
			}
		}
	}
	if got.FlowRunID == "" {
		return nil, fmt.Errorf("sdk flow printed no result: %s", tail(out.String(), 500))
	}
	filter := map[string]any{"task_runs": map[string]any{"flow_run_id": map[string]any{"any_": []string{got.FlowRunID}},
		"state": map[string]any{"type": map[string]any{"any_": []string{"COMPLETED"}}}}}
	recorded, err := pollCount(ctx, api, filter, n, time.Now().Add(120*time.Second))
	if err != nil {
		return nil, err
	}
	res := &SDKResult{Tasks: n, FlowWall: time.Duration(got.Wall * float64(time.Second)), Recorded: time.Since(began), Lost: n - recorded}
	if res.Lost > 0 {
		api.Errs.Add("sdk: lost task runs", fmt.Sprintf("%d of %d task runs not recorded", res.Lost, n))
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
