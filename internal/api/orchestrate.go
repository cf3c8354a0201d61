package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/orchestration"
	"github.com/warden-orchestration/warden/internal/storage"
)

// This file is the adapter between the pure orchestration engine and
// storage: it runs the engine inside the run's orchestration transaction
// (storage.RunTx), with the transaction as the engine's Lookup, then writes
// the outcome and applies the effects in the same transaction.

// flowRunEventEmitter publishes Prefect's prefect.flow-run.<State> event for
// an accepted flow-run transition. It is called after the transaction
// commits, never for a rolled-back one.
type flowRunEventEmitter interface {
	EmitFlowRunStateChange(ctx context.Context, run *apitype.FlowRun, initial, validated *apitype.State)
}

// flowRunEvents is the one place the emitter is chosen: the event bus
// (flow_run_events.go).
func (a *app) flowRunEvents() flowRunEventEmitter { return busFlowRunEvents{a: a} }

// errUnsupportedEffect rolls back a transition whose effects Warden cannot
// apply yet, rather than pretending it applied them.
var errUnsupportedEffect = errors.New("orchestration effect not supported")

// transition is one proposed state for a run, with the request context the
// rules read.
type transition struct {
	proposed      *apitype.State
	force         bool
	apiVersion    string
	clientVersion string
}

// orchestrator runs transitions inside one RunTx and remembers the events
// to emit once the transaction commits.
type orchestrator struct {
	tx     storage.RunTx
	now    time.Time
	events []orchestration.EmitFlowRunStateChange
}

func (a *app) newOrchestrator(tx storage.RunTx) *orchestrator {
	return &orchestrator{tx: tx, now: a.now().UTC().Truncate(time.Microsecond)}
}

func (o *orchestrator) engine() *orchestration.Engine {
	return &orchestration.Engine{Lookup: txLookup{tx: o.tx, now: o.now}, Now: func() time.Time { return o.now }}
}

// setFlowRunState governs t on a flow run and writes the outcome.
func (o *orchestrator) setFlowRunState(ctx context.Context, id uuid.UUID, t transition) (*apitype.OrchestrationResult, error) {
	fr, err := o.tx.FlowRun(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := o.engine().Orchestrate(ctx, orchestration.Request{
		Run: flowRunToRun(fr), Initial: fr.State, Proposed: t.proposed, Force: t.force,
		APIVersion: t.apiVersion, ClientVersion: t.clientVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("orchestrate flow run: %w", err)
	}
	cols := runColumns(res.Run)
	pol := mergeFlowPolicy(fr.EmpiricalPolicy, res.Run.FlowPolicy)
	cols.FlowPolicy = &pol
	if err := o.tx.SetFlowRunState(ctx, &storage.RunStateWrite{RunID: id, State: res.NewState, Columns: cols, Now: o.now}); err != nil {
		return nil, err
	}
	if err := o.apply(ctx, res.Effects); err != nil {
		return nil, err
	}
	return &res.OrchestrationResult, nil
}

// setTaskRunState governs t on a task run and writes the outcome.
func (o *orchestrator) setTaskRunState(ctx context.Context, id uuid.UUID, t transition) (*apitype.OrchestrationResult, error) {
	tr, err := o.tx.TaskRun(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := o.engine().Orchestrate(ctx, orchestration.Request{
		Run: taskRunToRun(tr), Initial: tr.State, Proposed: t.proposed, Force: t.force,
		APIVersion: t.apiVersion, ClientVersion: t.clientVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("orchestrate task run: %w", err)
	}
	cols := runColumns(res.Run)
	cols.FlowRunRunCount = res.Run.FlowRunRunCount
	pol := mergeTaskPolicy(tr.EmpiricalPolicy, res.Run.TaskPolicy)
	cols.TaskPolicy = &pol
	if err := o.tx.SetTaskRunState(ctx, &storage.RunStateWrite{RunID: id, State: res.NewState, Columns: cols, Now: o.now}); err != nil {
		return nil, err
	}
	if err := o.apply(ctx, res.Effects); err != nil {
		return nil, err
	}
	return &res.OrchestrationResult, nil
}

// apply performs the engine's effects in order, in the same transaction.
func (o *orchestrator) apply(ctx context.Context, effects []orchestration.Effect) error {
	for _, e := range effects {
		switch e := e.(type) {
		case orchestration.InsertCacheEntry:
			if err := o.tx.InsertCacheEntry(ctx, &storage.CacheEntry{ID: uuid.New(), CacheKey: e.CacheKey,
				CacheExpiration: e.CacheExpiration, StateID: e.StateID, Now: o.now}); err != nil {
				return err
			}
		case orchestration.SetTaskRunState:
			// A subflow's state is mirrored onto its tracking task run.
			if err := o.tx.LockTaskRun(ctx, e.TaskRunID); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue // the parent task run was deleted
				}
				return err
			}
			if _, err := o.setTaskRunState(ctx, e.TaskRunID, transition{proposed: e.State, force: e.Force}); err != nil {
				return err
			}
		case orchestration.EmitFlowRunStateChange:
			o.events = append(o.events, e)
		case orchestration.IncrementSlots, orchestration.DecrementSlots, orchestration.CreateLease,
			orchestration.RenewLease, orchestration.RevokeLease, orchestration.ReleaseLease,
			orchestration.ReleaseHolderLeases, orchestration.AddTagSlot, orchestration.RemoveTagSlot:
			if err := o.applyConcurrency(ctx, e); err != nil {
				return err
			}
		case orchestration.DeleteFlowRunInput:
			itx, ok := o.tx.(storage.FlowRunInputTx)
			if !ok {
				return fmt.Errorf("%w: %T has no run input", errUnsupportedEffect, o.tx)
			}
			if err := itx.DeleteFlowRunInput(ctx, e.FlowRunID, e.Key); err != nil {
				return err
			}
		case orchestration.EnqueueBackgroundTask:
			// Prefect pushes deferred runs onto an in-memory queue for
			// /task_runs/subscriptions/scheduled. The run is already stored
			// SCHEDULED; task workers (not served yet) will read it from
			// storage, which also survives a restart. Nothing to do here.
		default:
			return fmt.Errorf("%w: %T", errUnsupportedEffect, e)
		}
	}
	return nil
}

// emit publishes the collected events; call it after the commit.
func (a *app) emit(ctx context.Context, o *orchestrator) {
	for _, e := range o.events {
		fr, err := a.store.FlowRunGet(ctx, e.FlowRunID)
		if err != nil {
			continue // deleted since: nothing to describe
		}
		a.flowRunEvents().EmitFlowRunStateChange(ctx, fr, e.Initial, e.Validated)
	}
}

// txLookup is orchestration.Lookup over the orchestration transaction; now
// is the transition's time, which limit snapshots are decayed to.
type txLookup struct {
	tx  storage.RunTx
	now time.Time
}

func (l txLookup) FlowRun(ctx context.Context, id uuid.UUID) (*orchestration.FlowRunSnapshot, error) {
	fr, err := l.tx.FlowRun(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &orchestration.FlowRunSnapshot{ID: fr.ID, State: fr.State, RunCount: fr.RunCount}, nil
}

func (l txLookup) CachedTaskRunState(ctx context.Context, key string, now time.Time) (*apitype.State, error) {
	return l.tx.CachedTaskRunState(ctx, key, now)
}

func (l txLookup) FlowRunStateTimestampTaken(ctx context.Context, flowRunID uuid.UUID, ts time.Time) (bool, error) {
	return l.tx.FlowRunStateTimestampTaken(ctx, flowRunID, ts)
}

// ---- run conversions ----

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

func flowRunToRun(fr *apitype.FlowRun) *orchestration.Run {
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

func taskRunToRun(tr *apitype.TaskRun) *orchestration.Run {
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

// clientVersionRE is Prefect's PREFECT_CLIENT_USER_AGENT_PATTERN.
var clientVersionRE = regexp.MustCompile(`^prefect/(\d+\.\d+\.\d+(?:[a-z.+0-9]+)?)(?:\s|$)`)

// requestVersions returns the X-PREFECT-API-VERSION and the client version
// parsed from the User-Agent, which some rules depend on.
func requestVersions(r *http.Request) (apiVersion, clientVersion string) {
	if m := clientVersionRE.FindStringSubmatch(r.Header.Get("User-Agent")); m != nil {
		clientVersion = m[1]
	}
	return r.Header.Get("X-Prefect-Api-Version"), clientVersion
}
