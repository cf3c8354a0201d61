package orchestration

import (
	"context"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// TestPackageImportsArePure keeps the engine free of SQL, HTTP and other
// I/O: only the stdlib (minus database/net/os), uuid and apitype.
func TestPackageImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case p == "github.com/google/uuid", p == "github.com/warden-orchestration/warden/apitype":
			case strings.Contains(strings.SplitN(p, "/", 2)[0], "."):
				t.Errorf("%s imports non-stdlib %q", f, p)
			case strings.HasPrefix(p, "database/"), strings.HasPrefix(p, "net"), p == "os", p == "os/exec":
				t.Errorf("%s imports I/O package %q", f, p)
			}
			checked++
		}
	}
	require.Positive(t, checked)
}

func TestPolicyOrder(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		want   []string
	}{
		{CoreFlowPolicy(), []string{"PreserveDeploymentConcurrencyLeaseId", "PreventDuplicateTransitions",
			"HandleFlowTerminalStateTransitions", "EnforceCancellingToCancelledTransition",
			"BypassCancellingFlowRunsWithNoInfra", "PreventPendingTransitions", "ValidateDeploymentConcurrencyAtRunning",
			"SecureFlowConcurrencySlots", "RemoveDeploymentConcurrencyLeaseForOldClientVersions",
			"EnsureOnlyScheduledFlowsMarkedLate", "HandlePausingFlows", "HandleResumingPausedFlows", "CopyScheduledTime",
			"WaitForScheduledTime", "RetryFailedFlows", "InstrumentFlowRunStateTransitions", "ReleaseFlowConcurrencySlots"}},
		{CoreTaskPolicy(), []string{"CacheRetrieval", "HandleTaskTerminalStateTransitions",
			"PreventRunningTasksFromStoppedFlows", "SecureTaskConcurrencySlots", "CopyScheduledTime", "WaitForScheduledTime",
			"RetryFailedTasks", "RenameReruns", "UpdateFlowRunTrackerOnTasks", "CacheInsertion", "ReleaseTaskConcurrencySlots"}},
		{ClientSideTaskOrchestrationPolicy(), []string{"CacheRetrieval", "HandleTaskTerminalStateTransitions",
			"PreventRunningTasksFromStoppedFlows", "CopyScheduledTime", "WaitForScheduledTime",
			"RetryFailedTasks", "RenameReruns", "UpdateFlowRunTrackerOnTasks", "CacheInsertion", "ReleaseTaskConcurrencySlots"}},
		{BackgroundTaskPolicy(), []string{"PreventPendingTransitions", "CacheRetrieval", "HandleTaskTerminalStateTransitions",
			"CopyScheduledTime", "CopyTaskParametersID", "WaitForScheduledTime", "RetryFailedTasks", "RenameReruns",
			"UpdateFlowRunTrackerOnTasks", "CacheInsertion", "ReleaseTaskConcurrencySlots", "EnqueueScheduledTasks"}},
		{MinimalFlowPolicy(), []string{"PreserveDeploymentConcurrencyLeaseId", "PreventResultDataLoss",
			"BypassCancellingFlowRunsWithNoInfra", "InstrumentFlowRunStateTransitions", "ReleaseFlowConcurrencySlots"}},
		{MinimalTaskPolicy(), []string{"ReleaseTaskConcurrencySlots"}},
		{MarkLateRunsPolicy(), []string{"EnsureOnlyScheduledFlowsMarkedLate", "EnforceDeploymentConcurrencyOnLate",
			"InstrumentFlowRunStateTransitions"}},
		{GlobalFlowPolicy(), []string{"EnsureFlowRunStateTimestampIsUnique", "SetRunStateType", "SetRunStateName",
			"SetRunStateTimestamp", "SetStartTime", "SetEndTime", "IncrementRunTime", "SetExpectedStartTime",
			"SetNextScheduledStartTime", "UpdateStateDetails", "UpdateSubflowParentTask", "UpdateSubflowStateDetails",
			"IncrementFlowRunCount", "RemoveResumingIndicator"}},
		{GlobalTaskPolicy(), []string{"SetRunStateType", "SetRunStateName", "SetRunStateTimestamp", "SetStartTime",
			"SetEndTime", "IncrementRunTime", "SetExpectedStartTime", "SetNextScheduledStartTime", "UpdateStateDetails",
			"IncrementTaskRunCount"}},
	} {
		t.Run(tc.policy.Name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.policy.RuleNames())
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	deferred := st(apitype.StateTypeScheduled, "", t0)
	deferred.StateDetails.Deferred = true
	plain := st(apitype.StateTypeRunning, "", t0)
	require.Equal(t, "CoreFlowPolicy", DefaultPolicy(FlowRunKind, false, plain).Name)
	require.Equal(t, "MinimalFlowPolicy", DefaultPolicy(FlowRunKind, true, plain).Name)
	require.Equal(t, "CoreTaskPolicy", DefaultPolicy(TaskRunKind, false, plain).Name)
	require.Equal(t, "MinimalTaskPolicy", DefaultPolicy(TaskRunKind, true, plain).Name)
	require.Equal(t, "BackgroundTaskPolicy", DefaultPolicy(TaskRunKind, true, deferred).Name)
}

// TestPolicyCompileSelectsByTransition: only rules whose From/To sets hold
// the intended transition are compiled.
func TestPolicyCompileSelectsByTransition(t *testing.T) {
	names := func(rs []Rule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name())
		}
		return out
	}
	require.Equal(t, []string{"PreserveDeploymentConcurrencyLeaseId", "PreventDuplicateTransitions",
		"RetryFailedFlows", "InstrumentFlowRunStateTransitions", "ReleaseFlowConcurrencySlots"},
		names(CoreFlowPolicy().Compile(apitype.StateTypeRunning, apitype.StateTypeFailed)))
	require.Equal(t, []string{"PreserveDeploymentConcurrencyLeaseId", "PreventDuplicateTransitions",
		"SecureFlowConcurrencySlots", "InstrumentFlowRunStateTransitions", "ReleaseFlowConcurrencySlots"},
		names(CoreFlowPolicy().Compile(NoState, apitype.StateTypePending)))
}

func newProbe(name string, log *[]string, before hook) func() Rule {
	return func() Rule {
		return &rule{
			name: name, from: allStates(), to: allStates(),
			before: func(ctx context.Context, c *Context) error {
				*log = append(*log, name+".before")
				c.Emit(DeleteFlowRunInput{Key: name})
				if before != nil {
					return before(ctx, c)
				}
				return nil
			},
			after:   func(context.Context, *Context) error { *log = append(*log, name+".after"); return nil },
			cleanup: func(context.Context, *Context) error { *log = append(*log, name+".cleanup"); return nil },
		}
	}
}

// TestLifecycleInvalidAndFizzled: a rule after a type-changing reject never
// fires; a rule before it fizzles (cleanup, entry effects dropped); the
// rejecting rule itself exits normally.
func TestLifecycleInvalidAndFizzled(t *testing.T) {
	var log []string
	p := Policy{Name: "test", Rules: rules(
		newProbe("A", &log, nil),
		newProbe("B", &log, func(_ context.Context, c *Context) error {
			return c.Reject(c.NewState(apitype.StateTypeScheduled, "AwaitingRetry"), "no")
		}),
		newProbe("C", &log, nil),
	)}
	res := orchestrate(t, nil, Request{
		Run: flowRun(), Initial: st(apitype.StateTypeRunning, "", t0.Add(-time.Minute)),
		Proposed: st(apitype.StateTypeFailed, "", t0), Policy: &p,
	})
	require.Equal(t, []string{"A.before", "B.before", "B.after", "A.cleanup"}, log)
	keys := []string{}
	for _, e := range effectsOf[DeleteFlowRunInput](res) {
		keys = append(keys, e.Key)
	}
	require.Equal(t, []string{"B"}, keys, "A fizzled: its entry effect is dropped")
	require.Equal(t, rejected(apitype.StateTypeScheduled, "AwaitingRetry"), outcomeOf(res))
	require.NotNil(t, res.NewState)
	require.Equal(t, "no", *res.Details.Reason)
}

func TestWaitAndAbortWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decide func(c *Context)
		status apitype.SetStateStatus
	}{
		{"wait", func(c *Context) { c.Wait(7, "later") }, apitype.SetStateStatusWait},
		{"abort", func(c *Context) { c.Abort("stop") }, apitype.SetStateStatusAbort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			p := Policy{Name: "test", Rules: rules(newProbe("X", &log, func(_ context.Context, c *Context) error {
				tc.decide(c)
				return nil
			}))}
			run := flowRun()
			initial := st(apitype.StateTypePending, "", t0.Add(-time.Minute))
			res := orchestrate(t, nil, Request{Run: run, Initial: initial, Proposed: st(apitype.StateTypeRunning, "", t0), Policy: &p})
			require.Equal(t, tc.status, res.Status)
			require.Nil(t, res.NewState)
			require.Equal(t, initial.ID, res.State.ID, "the current state is returned")
			require.Equal(t, 0, res.Run.RunCount, "global transforms skip a nullified transition")
			if tc.status == apitype.SetStateStatusWait {
				require.Equal(t, 7, res.Details.DelaySeconds)
			}
		})
	}
}

// TestRejectWithoutStateNeedsCurrentState mirrors Prefect's
// OrchestrationError: keeping the current state needs one.
func TestRejectWithoutStateNeedsCurrentState(t *testing.T) {
	p := Policy{Name: "test", Rules: rules(func() Rule {
		return &rule{name: "R", from: allStates(), to: allStates(), before: func(_ context.Context, c *Context) error {
			return c.Reject(nil, "no")
		}}
	})}
	_, err := testEngine(newFakeLookup()).Orchestrate(context.Background(),
		Request{Run: flowRun(), Proposed: st(apitype.StateTypeRunning, "", t0), Policy: &p})
	require.ErrorIs(t, err, errNoStateToKeep)
}

func TestOrchestrateDoesNotMutateRequest(t *testing.T) {
	run := flowRun()
	proposed := st(apitype.StateTypeRunning, "", t0)
	res := orchestrate(t, nil, Request{Run: run, Proposed: proposed})
	require.Equal(t, 0, run.RunCount)
	require.Nil(t, proposed.StateDetails.FlowRunID)
	require.Equal(t, 1, res.Run.RunCount)
	require.Equal(t, run.ID, *res.NewState.StateDetails.FlowRunID)
}

func TestCreatedNewState(t *testing.T) {
	s := st(apitype.StateTypeRunning, "", t0)
	require.True(t, CreatedNewState(apitype.OrchestrationResult{State: s}, t0))
	require.False(t, CreatedNewState(apitype.OrchestrationResult{State: s}, t0.Add(time.Millisecond)))
	require.False(t, CreatedNewState(apitype.OrchestrationResult{}, t0))
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0.8.4", "0.8.4", 0}, {"0.8.3", "0.8.4", -1}, {"0.10.0", "0.8.4", 1},
		{"3.4.11", "3.4.11", 0}, {"3.4.9", "3.4.11", -1}, {"3.0.0rc20", "3.0.0", -1}, {"3.9.1", "3.4.11", 1},
	} {
		require.Equal(t, tc.want, compareVersions(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

func TestEngineRequiresRunAndProposal(t *testing.T) {
	_, err := (&Engine{}).Orchestrate(context.Background(), Request{Run: flowRun()})
	require.Error(t, err)
}
