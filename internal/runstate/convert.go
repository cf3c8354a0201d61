package runstate

import (
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/storage"
)

// Conversions between the stored runs and the engine's view of them.

func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Round(s*1e6)) * time.Microsecond
}

func stateTypeOf(t *apitype.StateType) apitype.StateType {
	if t == nil {
		return ""
	}
	return *t
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// FlowRunToRun is the engine's view of a stored flow run.
func FlowRunToRun(fr *apitype.FlowRun) *orchestration.Run {
	p := fr.EmpiricalPolicy
	return &orchestration.Run{
		Kind: orchestration.FlowRunKind, ID: fr.ID, ParentTaskRunID: fr.ParentTaskRunID, DeploymentID: fr.DeploymentID,
		InfrastructurePID: fr.InfrastructurePID, Tags: fr.Tags, StateType: stateTypeOf(fr.StateType),
		StateName: deref(fr.StateName), StateTimestamp: fr.StateTimestamp, RunCount: fr.RunCount,
		StartTime: fr.StartTime, EndTime: fr.EndTime, TotalRunTime: secondsToDuration(fr.TotalRunTime),
		ExpectedStartTime: fr.ExpectedStartTime, NextScheduledStartTime: fr.NextScheduledStartTime,
		FlowPolicy: orchestration.FlowRunPolicy{Retries: p.Retries, RetryDelay: p.RetryDelay, PauseKeys: p.PauseKeys,
			Resuming: deref(p.Resuming), RetryType: p.RetryType},
	}
}

// TaskRunToRun is the engine's view of a stored task run.
func TaskRunToRun(tr *apitype.TaskRun) *orchestration.Run {
	p := tr.EmpiricalPolicy
	return &orchestration.Run{
		Kind: orchestration.TaskRunKind, ID: tr.ID, FlowRunID: tr.FlowRunID, TaskKey: tr.TaskKey, Tags: tr.Tags,
		StateType: stateTypeOf(tr.StateType), StateName: deref(tr.StateName), StateTimestamp: tr.StateTimestamp,
		RunCount: tr.RunCount, FlowRunRunCount: tr.FlowRunRunCount, StartTime: tr.StartTime, EndTime: tr.EndTime,
		TotalRunTime: secondsToDuration(tr.TotalRunTime), ExpectedStartTime: tr.ExpectedStartTime,
		NextScheduledStartTime: tr.NextScheduledStartTime,
		TaskPolicy: orchestration.TaskRunPolicy{Retries: p.Retries, RetryDelay: parseRetryDelay(p.RetryDelay),
			RetryJitterFactor: p.RetryJitterFactor},
	}
}

// parseRetryDelay reads Prefect's int | float | list | null retry_delay.
func parseRetryDelay(raw json.RawMessage) []float64 {
	var one float64
	if json.Unmarshal(raw, &one) == nil && len(raw) > 0 && string(raw) != "null" {
		return []float64{one}
	}
	var many []float64
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

func runColumns(r *orchestration.Run) storage.RunColumns {
	c := storage.RunColumns{
		StateTimestamp: r.StateTimestamp, RunCount: r.RunCount, StartTime: r.StartTime, EndTime: r.EndTime,
		TotalRunTime: r.TotalRunTime, ExpectedStartTime: r.ExpectedStartTime, NextScheduledStartTime: r.NextScheduledStartTime,
	}
	if r.StateType != "" {
		t, n := r.StateType, r.StateName
		c.StateType, c.StateName = &t, &n
	}
	return c
}

// mergeFlowPolicy writes the engine's policy fields over the stored policy,
// keeping the deprecated fields the engine does not model.
func mergeFlowPolicy(old apitype.FlowRunPolicy, p orchestration.FlowRunPolicy) apitype.FlowRunPolicy {
	old.Retries, old.RetryDelay, old.RetryType = p.Retries, p.RetryDelay, p.RetryType
	old.PauseKeys = p.PauseKeys
	if old.PauseKeys == nil {
		old.PauseKeys = []string{}
	}
	resuming := p.Resuming
	old.Resuming = &resuming
	return old
}

// mergeTaskPolicy keeps retry_delay's original spelling unless it changed.
func mergeTaskPolicy(old apitype.TaskRunPolicy, p orchestration.TaskRunPolicy) apitype.TaskRunPolicy {
	old.Retries, old.RetryJitterFactor = p.Retries, p.RetryJitterFactor
	if !slices.Equal(parseRetryDelay(old.RetryDelay), p.RetryDelay) {
		old.RetryDelay = nil
		if p.RetryDelay != nil {
			old.RetryDelay, _ = json.Marshal(p.RetryDelay) // []float64 always marshals
		}
	}
	return old
}
