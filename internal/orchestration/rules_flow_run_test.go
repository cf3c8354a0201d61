package orchestration

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

const (
	S  = apitype.StateTypeScheduled
	P  = apitype.StateTypePending
	R  = apitype.StateTypeRunning
	C  = apitype.StateTypeCompleted
	F  = apitype.StateTypeFailed
	X  = apitype.StateTypeCancelled
	CR = apitype.StateTypeCrashed
	PA = apitype.StateTypePaused
	CI = apitype.StateTypeCancelling
)

var (
	aborted = outcome{status: apitype.SetStateStatusAbort}
	waited  = outcome{status: apitype.SetStateStatusWait}
)

type flowCase struct {
	name     string
	run      func(r *Run)
	initial  *apitype.State
	proposed *apitype.State
	force    bool
	want     outcome
	check    func(t *testing.T, res *Result)
}

// runFlowCases runs flow transitions through the default policy. When the
// outcome keeps the current state, want carries its type and name.
func runFlowCases(t *testing.T, cases []flowCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := flowRun()
			if tc.run != nil {
				tc.run(run)
			}
			res := orchestrate(t, nil, Request{Run: run, Initial: tc.initial, Proposed: tc.proposed, Force: tc.force})
			got := outcomeOf(res)
			if tc.want.status != apitype.SetStateStatusAccept && tc.want.status != apitype.SetStateStatusReject {
				got.typ, got.name = "", "" // WAIT/ABORT return the current state; only the status matters
			}
			require.Equal(t, tc.want, got)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func withDeployment(r *Run) { r.DeploymentID = idp() }

func TestPreventDuplicateTransitions(t *testing.T) {
	tid := uuid.New()
	cur := st(R, "", t0.Add(-time.Second))
	cur.StateDetails.TransitionID = &tid
	same := st(C, "", t0)
	same.StateDetails.TransitionID = &tid
	other := st(C, "", t0)
	other.StateDetails.TransitionID = idp()
	runFlowCases(t, []flowCase{
		{name: "same transition id is rejected with the current state", initial: cur, proposed: same, want: rejected(R, "")},
		{name: "different transition id is accepted", initial: cur, proposed: other, want: accepted(C, "")},
		{name: "no transition id is accepted", initial: cur, proposed: st(C, "", t0), want: accepted(C, "")},
	})
}

func TestHandleFlowTerminalStateTransitions(t *testing.T) {
	completedPersisted := st(C, "", t0.Add(-time.Hour))
	completedPersisted.Data = persisted
	completedUnpersisted := st(C, "", t0.Add(-time.Hour))
	completedUnpersisted.Data = []byte(`{"type":"unpersisted"}`)
	proposedPersisted := st(C, "", t0)
	proposedPersisted.Data = persisted
	runFlowCases(t, []flowCase{
		{name: "terminal to cancelling aborts", initial: st(F, "", t0.Add(-time.Hour)), proposed: st(CI, "", t0), want: aborted},
		{name: "terminal to paused aborts", initial: st(C, "", t0.Add(-time.Hour)), proposed: st(PA, "", t0), want: aborted},
		{name: "terminal to crashed aborts", initial: st(X, "", t0.Add(-time.Hour)), proposed: st(CR, "", t0), want: aborted},
		{name: "completed with persisted result cannot rerun", initial: completedPersisted, proposed: st(R, "", t0), want: rejected(C, "")},
		{name: "completed persisted to completed without data is rejected", initial: completedPersisted, proposed: st(C, "", t0), want: rejected(C, "")},
		{name: "completed persisted to completed persisted is accepted", initial: completedPersisted, proposed: proposedPersisted, want: accepted(C, "")},
		{name: "completed unpersisted may rerun", initial: completedUnpersisted, proposed: st(R, "", t0), want: accepted(R, "")},
		{name: "reschedule without deployment aborts", initial: st(F, "", t0.Add(-time.Hour)), proposed: scheduled("", t0, t0), want: aborted},
		{
			name: "reschedule with deployment resets pause bookkeeping", run: func(r *Run) {
				withDeployment(r)
				r.FlowPolicy = FlowRunPolicy{PauseKeys: []string{"k"}, Resuming: true}
			},
			initial: st(F, "", t0.Add(-time.Hour)), proposed: scheduled("", t0, t0), want: accepted(S, ""),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, []string{}, res.Run.FlowPolicy.PauseKeys)
				require.False(t, res.Run.FlowPolicy.Resuming)
				require.Equal(t, RetryTypeReschedule, *res.Run.FlowPolicy.RetryType)
			},
		},
		{
			name: "manual rerun clears retry type", run: func(r *Run) { r.FlowPolicy.RetryType = ptr(RetryTypeInProcess) },
			initial: st(F, "", t0.Add(-time.Hour)), proposed: st(R, "", t0), want: accepted(R, ""),
			check: func(t *testing.T, res *Result) { require.Nil(t, res.Run.FlowPolicy.RetryType) },
		},
	})
}

func TestPreventResultDataLossEvenWhenForced(t *testing.T) {
	completedPersisted := st(C, "", t0.Add(-time.Hour))
	completedPersisted.Data = persisted
	runFlowCases(t, []flowCase{
		{name: "forced completed without data is rejected", initial: completedPersisted, proposed: st(C, "", t0), force: true, want: rejected(C, "")},
		{name: "forced failed is accepted", initial: completedPersisted, proposed: st(F, "", t0), force: true, want: accepted(F, "")},
		{name: "forced rerun is accepted", initial: completedPersisted, proposed: st(R, "", t0), force: true, want: accepted(R, "")},
	})
}

func TestEnforceCancellingToCancelledTransition(t *testing.T) {
	cur := st(CI, "", t0.Add(-time.Second))
	runFlowCases(t, []flowCase{
		{name: "cancelling to cancelled is accepted", initial: cur, proposed: st(X, "", t0), want: accepted(X, "")},
		{name: "cancelling to completed is rejected", initial: cur, proposed: st(C, "", t0), want: rejected(CI, "")},
		{name: "cancelling to running is rejected", initial: cur, proposed: st(R, "", t0), want: rejected(CI, "")},
	})
}

func TestBypassCancellingFlowRunsWithNoInfra(t *testing.T) {
	suspended := st(PA, apitype.StateNameSuspended, t0.Add(-time.Second))
	suspended.StateDetails.PauseReschedule = true
	withPID := func(r *Run) { r.InfrastructurePID = ptr("1234") }
	runFlowCases(t, []flowCase{
		{name: "scheduled without infrastructure is cancelled directly", initial: scheduled("", t0, t0), proposed: st(CI, "", t0), want: rejected(X, "")},
		{name: "scheduled with infrastructure goes through cancelling", run: withPID, initial: scheduled("", t0, t0), proposed: st(CI, "", t0), want: accepted(CI, "")},
		{name: "resuming is cancelled directly", run: withPID, initial: scheduled(apitype.StateNameResuming, t0, t0), proposed: st(CI, "", t0), want: rejected(X, "")},
		{name: "suspended is cancelled directly", initial: suspended, proposed: st(CI, "", t0), want: rejected(X, "")},
		{name: "blocking pause goes through cancelling", initial: st(PA, "", t0.Add(-time.Second)), proposed: st(CI, "", t0), want: accepted(CI, "")},
		{name: "forced cancel from the UI is still bypassed", initial: scheduled("", t0, t0), proposed: st(CI, "", t0), force: true, want: rejected(X, "")},
	})
}

// TestPreventPendingTransitions is the worker double-submit guard.
func TestPreventPendingTransitions(t *testing.T) {
	sched := t0.Add(-time.Minute)
	lease := uuid.New()
	pending := st(P, "", t0.Add(-time.Second))
	pending.StateDetails.ScheduledTime = &sched
	pending.StateDetails.DeploymentConcurrencyLeaseID = &lease
	runFlowCases(t, []flowCase{
		{name: "second worker pending to pending aborts", initial: pending, proposed: st(P, "", t0), want: aborted},
		{name: "running to pending aborts", initial: st(R, "", t0.Add(-time.Second)), proposed: st(P, "", t0), want: aborted},
		{name: "cancelling to pending is rejected by the cancelling rule first", initial: st(CI, "", t0.Add(-time.Second)), proposed: st(P, "", t0), want: rejected(CI, "")},
		{name: "cancelled to pending aborts", initial: st(X, "", t0.Add(-time.Second)), proposed: st(P, "", t0), want: aborted},
		{
			name: "pending to submitting is allowed and keeps details", initial: pending,
			proposed: st(P, apitype.StateNameSubmitting, t0), want: accepted(P, apitype.StateNameSubmitting),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, sched, *res.NewState.StateDetails.ScheduledTime)
				require.Equal(t, lease, *res.NewState.StateDetails.DeploymentConcurrencyLeaseID)
			},
		},
		{name: "scheduled to pending is accepted", initial: scheduled("", t0, sched), proposed: st(P, "", t0), want: accepted(P, "")},
	})
}

// TestEnsureOnlyScheduledFlowsMarkedLate covers both the core policy and
// the late-runs service policy.
func TestEnsureOnlyScheduledFlowsMarkedLate(t *testing.T) {
	runFlowCases(t, []flowCase{
		{name: "scheduled is marked late", initial: scheduled("", t0, t0.Add(-time.Minute)), proposed: scheduled(apitype.StateNameLate, t0, t0.Add(-time.Minute)), want: accepted(S, apitype.StateNameLate)},
		{name: "already late is rejected", initial: scheduled(apitype.StateNameLate, t0, t0), proposed: scheduled(apitype.StateNameLate, t0, t0), want: rejected(S, apitype.StateNameLate)},
		{name: "running cannot be marked late", run: withDeployment, initial: st(R, "", t0.Add(-time.Second)), proposed: scheduled(apitype.StateNameLate, t0, t0), want: rejected(R, "")},
	})
	late := MarkLateRunsPolicy()
	res := orchestrate(t, nil, Request{Run: flowRun(), Initial: scheduled(apitype.StateNameLate, t0, t0), Proposed: scheduled(apitype.StateNameLate, t0, t0), Policy: &late})
	require.Equal(t, rejected(S, apitype.StateNameLate), outcomeOf(res))
}

func pausedState(name string, reschedule bool, timeout *time.Time) *apitype.State {
	s := st(PA, name, t0.Add(-time.Minute))
	s.StateDetails.PauseReschedule = reschedule
	s.StateDetails.PauseTimeout = timeout
	return s
}

func TestHandlePausingFlows(t *testing.T) {
	running := st(R, "", t0.Add(-time.Minute))
	withKey := func(key string, reschedule bool) *apitype.State {
		s := st(PA, "", t0)
		if reschedule {
			s.Name = apitype.StateNameSuspended
		}
		s.StateDetails.PauseKey = &key
		s.StateDetails.PauseReschedule = reschedule
		s.StateDetails.RunInputKeyset = map[string]string{"response": "k1-response", "schema": "k1-schema"}
		return s
	}
	runFlowCases(t, []flowCase{
		{
			name: "running pauses and records the key", initial: running, proposed: withKey("k1", false), want: accepted(PA, ""),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, []string{"k1"}, res.Run.FlowPolicy.PauseKeys)
				var keys []string
				for _, e := range effectsOf[DeleteFlowRunInput](res) {
					keys = append(keys, e.Key)
				}
				require.Equal(t, []string{"k1-response", "k1-schema"}, keys, "stale inputs of an earlier attempt are deleted")
			},
		},
		{name: "same pause key fires once", run: func(r *Run) { r.FlowPolicy.PauseKeys = []string{"k1"} }, initial: running, proposed: withKey("k1", false), want: rejected(R, "")},
		{name: "no state aborts", proposed: withKey("k1", false), want: aborted},
		{name: "not running is rejected", initial: st(P, "", t0.Add(-time.Second)), proposed: withKey("k1", false), want: rejected(P, "")},
		{name: "suspend without deployment aborts", initial: running, proposed: withKey("k1", true), want: aborted},
		{name: "suspend a subflow aborts", run: func(r *Run) { withDeployment(r); r.ParentTaskRunID = idp() }, initial: running, proposed: withKey("k1", true), want: aborted},
		{name: "suspend with deployment is accepted", run: withDeployment, initial: running, proposed: withKey("k1", true), want: accepted(PA, apitype.StateNameSuspended)},
	})
}

func TestHandleResumingPausedFlows(t *testing.T) {
	past, future := t0.Add(-time.Second), t0.Add(time.Hour)
	runFlowCases(t, []flowCase{
		{
			// As in Prefect: "resuming" is set after validation, so the
			// Running that resumes a blocking pause still counts.
			name: "blocking pause resumes to running and marks resuming", run: func(r *Run) { r.RunCount = 1 },
			initial: pausedState("", false, &future), proposed: st(R, "", t0), want: accepted(R, ""),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, 2, res.Run.RunCount)
				require.True(t, res.Run.FlowPolicy.Resuming)
			},
		},
		{name: "paused to pending is rejected", initial: pausedState("", false, nil), proposed: st(P, "", t0), want: rejected(PA, "")},
		{name: "pause timeout passed fails the run", initial: pausedState("", false, &past), proposed: st(R, "", t0), want: rejected(F, "")},
		{name: "cancelling after the timeout is allowed", run: func(r *Run) { r.InfrastructurePID = ptr("9") }, initial: pausedState("", false, &past), proposed: st(CI, "", t0), want: accepted(CI, "")},
		{name: "suspended without deployment is rejected", initial: pausedState(apitype.StateNameSuspended, true, nil), proposed: scheduled(apitype.StateNameResuming, t0, t0), want: rejected(PA, apitype.StateNameSuspended)},
		{
			name: "suspended resumes as scheduled with resuming set", run: withDeployment,
			initial: pausedState(apitype.StateNameSuspended, true, &future), proposed: scheduled(apitype.StateNameResuming, t0, t0),
			want:  accepted(S, apitype.StateNameResuming),
			check: func(t *testing.T, res *Result) { require.True(t, res.Run.FlowPolicy.Resuming) },
		},
		{
			name: "blocking pause rescheduled restarts the attempt", run: func(r *Run) {
				withDeployment(r)
				r.FlowPolicy.PauseKeys = []string{"k"}
			},
			initial: pausedState("", false, &future), proposed: scheduled("", t0, t0), want: accepted(S, ""),
			check: func(t *testing.T, res *Result) {
				require.False(t, res.Run.FlowPolicy.Resuming)
				require.Equal(t, []string{}, res.Run.FlowPolicy.PauseKeys)
				require.Equal(t, RetryTypeReschedule, *res.Run.FlowPolicy.RetryType)
			},
		},
	})
}

func TestCopyScheduledTimeAndWaitForScheduledTime(t *testing.T) {
	when := t0.Add(-time.Minute)
	own := t0.Add(-2 * time.Minute)
	withOwn := st(P, "", t0)
	withOwn.StateDetails.ScheduledTime = &own
	runFlowCases(t, []flowCase{
		{
			name: "scheduled time is copied into pending", initial: scheduled("", t0.Add(-time.Hour), when), proposed: st(P, "", t0), want: accepted(P, ""),
			check: func(t *testing.T, res *Result) { require.Equal(t, when, *res.NewState.StateDetails.ScheduledTime) },
		},
		{
			name: "a proposed scheduled time wins", initial: scheduled("", t0.Add(-time.Hour), when), proposed: withOwn, want: accepted(P, ""),
			check: func(t *testing.T, res *Result) { require.Equal(t, own, *res.NewState.StateDetails.ScheduledTime) },
		},
		{name: "running after the scheduled time is accepted", initial: scheduled("", t0.Add(-time.Hour), when), proposed: st(R, "", t0), want: accepted(R, "")},
		{
			name: "running before the scheduled time waits", initial: scheduled("", t0.Add(-time.Hour), t0.Add(90*time.Second+600*time.Millisecond)),
			proposed: st(R, "", t0), want: waited,
			check: func(t *testing.T, res *Result) {
				require.Equal(t, 91, res.Details.DelaySeconds)
				require.Nil(t, res.NewState)
			},
		},
	})
	require.Equal(t, 10, delaySeconds(10*time.Second+500*time.Millisecond), "half rounds to even")
	require.Equal(t, 0, delaySeconds(-400*time.Millisecond))
}

func TestRetryFailedFlows(t *testing.T) {
	lease := uuid.New()
	running := st(R, "", t0.Add(-time.Minute))
	running.StateDetails.DeploymentConcurrencyLeaseID = &lease
	failed := st(F, "", t0)
	failed.Message = ptr("boom")
	failed.Data = persisted
	retries := func(n, count int) func(*Run) {
		return func(r *Run) {
			r.RunCount = count
			r.FlowPolicy.Retries = &n
			r.FlowPolicy.RetryDelay = ptr(30)
			r.FlowPolicy.PauseKeys = []string{"old"}
		}
	}
	runFlowCases(t, []flowCase{
		{
			name: "failure with retries left becomes AwaitingRetry", run: retries(2, 1), initial: running, proposed: failed,
			want: rejected(S, apitype.StateNameAwaitingRetry),
			check: func(t *testing.T, res *Result) {
				s := res.NewState
				require.Equal(t, t0.Add(30*time.Second), *s.StateDetails.ScheduledTime)
				require.Equal(t, "boom", *s.Message)
				require.JSONEq(t, string(persisted), string(s.Data))
				require.Equal(t, lease, *s.StateDetails.DeploymentConcurrencyLeaseID)
				require.Equal(t, RetryTypeInProcess, *res.Run.FlowPolicy.RetryType)
				require.Equal(t, []string{}, res.Run.FlowPolicy.PauseKeys)
				require.Empty(t, effectsOf[ReleaseLease](res), "an in-process retry keeps its slot")
			},
		},
		{
			name: "last retry exhausted is accepted", run: retries(2, 3), initial: running, proposed: failed, want: accepted(F, ""),
			check: func(t *testing.T, res *Result) { require.Nil(t, res.Run.FlowPolicy.RetryType) },
		},
		{name: "no retries configured is accepted", initial: running, proposed: failed, want: accepted(F, "")},
	})
}

// TestFlowRetryLifecycle walks a flow through a retry: run_count counts
// attempts and the rerun is named Retrying.
func TestFlowRetryLifecycle(t *testing.T) {
	l := newFakeLookup()
	run := flowRun()
	run.FlowPolicy.Retries = ptr(1)
	var cur *apitype.State
	step := func(p *apitype.State) *Result {
		res := orchestrate(t, l, Request{Run: run, Initial: cur, Proposed: p})
		run, cur = res.Run, res.State
		return res
	}
	step(st(P, "", t0))
	step(st(R, "", t0))
	require.Equal(t, 1, run.RunCount)
	res := step(st(F, "", t0))
	require.Equal(t, rejected(S, apitype.StateNameAwaitingRetry), outcomeOf(res))
	cur.StateDetails.ScheduledTime = ptr(t0)         // retry now
	res = step(st(R, apitype.StateNameRetrying, t0)) // flows name their own retries
	require.Equal(t, accepted(R, apitype.StateNameRetrying), outcomeOf(res))
	require.Equal(t, 2, run.RunCount)
	require.Equal(t, accepted(F, ""), outcomeOf(step(st(F, "", t0))))
}

func TestInstrumentFlowRunStateTransitions(t *testing.T) {
	res := orchestrate(t, nil, Request{Run: flowRun(), Proposed: st(P, "", t0)})
	ev := effectsOf[EmitFlowRunStateChange](res)
	require.Len(t, ev, 1)
	require.Nil(t, ev[0].Initial)
	require.Equal(t, res.NewState.ID, ev[0].Validated.ID)

	res = orchestrate(t, nil, Request{Run: flowRun(), Initial: st(R, "", t0), Proposed: st(P, "", t0)})
	require.Equal(t, apitype.SetStateStatusAbort, res.Status)
	require.Empty(t, effectsOf[EmitFlowRunStateChange](res), "no event without a new state")
}

// TestSuspendedFlowResumeKeepsRunCount: a suspended run resumed through
// Scheduled("Resuming") starts again without counting a new attempt.
func TestSuspendedFlowResumeKeepsRunCount(t *testing.T) {
	run := flowRun()
	withDeployment(run)
	l := newFakeLookup()
	l.deployments[*run.DeploymentID] = &DeploymentConcurrency{DeploymentID: *run.DeploymentID}
	run.RunCount = 1
	cur := st(R, "", t0.Add(-time.Hour))
	step := func(p *apitype.State) *Result {
		res := orchestrate(t, l, Request{Run: run, Initial: cur, Proposed: p})
		run, cur = res.Run, res.State
		return res
	}
	susp := st(PA, apitype.StateNameSuspended, t0)
	susp.StateDetails.PauseReschedule = true
	susp.StateDetails.PauseKey = ptr("p1")
	require.Equal(t, accepted(PA, apitype.StateNameSuspended), outcomeOf(step(susp)))
	require.Equal(t, accepted(S, apitype.StateNameResuming), outcomeOf(step(scheduled(apitype.StateNameResuming, t0, t0))))
	require.True(t, run.FlowPolicy.Resuming)
	require.Equal(t, accepted(P, ""), outcomeOf(step(st(P, "", t0))))
	require.Equal(t, accepted(R, ""), outcomeOf(step(st(R, "", t0))))
	require.Equal(t, 1, run.RunCount)
	require.False(t, run.FlowPolicy.Resuming)
	// The pause already fired: the rerun from the top skips it.
	again := susp.Clone()
	require.Equal(t, rejected(R, ""), outcomeOf(step(again)))
}
