package orchestration

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

type taskCase struct {
	name     string
	setup    func(l *fakeLookup, r *Run)
	initial  *apitype.State
	proposed *apitype.State
	want     outcome
	check    func(t *testing.T, res *Result)
}

// runTaskCases runs task transitions through CoreTaskPolicy with the
// enclosing flow run RUNNING unless setup changes it.
func runTaskCases(t *testing.T, cases []taskCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLookup()
			run := taskRun()
			run.FlowRunID = idp()
			l.flowRuns[*run.FlowRunID] = &FlowRunSnapshot{ID: *run.FlowRunID, State: st(R, "", t0.Add(-time.Hour)), RunCount: 1}
			if tc.setup != nil {
				tc.setup(l, run)
			}
			res := orchestrate(t, l, Request{Run: run, Initial: tc.initial, Proposed: tc.proposed})
			got := outcomeOf(res)
			if tc.want.status == apitype.SetStateStatusWait || tc.want.status == apitype.SetStateStatusAbort {
				got.typ, got.name = "", ""
			}
			require.Equal(t, tc.want, got)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func withCacheKey(s *apitype.State, key string) *apitype.State {
	s.StateDetails.CacheKey = &key
	return s
}

func TestCacheRetrieval(t *testing.T) {
	cached := st(C, "", t0.Add(-time.Hour))
	cached.Data = persisted
	expired := st(C, "", t0.Add(-time.Hour))
	expired.StateDetails.CacheExpiration = ptr(t0.Add(-time.Second))
	seed := func(l *fakeLookup, _ *Run) { l.cache["k"], l.cache["old"] = cached, expired }
	refresh := withCacheKey(st(R, "", t0), "k")
	refresh.StateDetails.RefreshCache = ptr(true)
	runTaskCases(t, []taskCase{
		{
			name: "cache hit returns a fresh Cached copy", setup: seed, initial: st(P, "", t0), proposed: withCacheKey(st(R, "", t0), "k"),
			want: rejected(C, apitype.StateNameCached),
			check: func(t *testing.T, res *Result) {
				require.NotEqual(t, cached.ID, res.NewState.ID)
				require.Equal(t, t0, res.NewState.Timestamp)
				require.JSONEq(t, string(persisted), string(res.NewState.Data))
				require.Equal(t, 0, res.Run.RunCount, "a cached run never runs")
			},
		},
		{name: "expired entry is a miss", setup: seed, initial: st(P, "", t0), proposed: withCacheKey(st(R, "", t0), "old"), want: accepted(R, "")},
		{name: "refresh_cache skips the cache", setup: seed, initial: st(P, "", t0), proposed: refresh, want: accepted(R, "")},
		{name: "no key is a miss", setup: seed, initial: st(P, "", t0), proposed: st(R, "", t0), want: accepted(R, "")},
	})
}

func TestCacheInsertion(t *testing.T) {
	exp := t0.Add(time.Hour)
	done := withCacheKey(st(C, "", t0), "k")
	done.StateDetails.CacheExpiration = &exp
	runTaskCases(t, []taskCase{
		{
			name: "completed with key is cached", initial: st(R, "", t0.Add(-time.Second)), proposed: done, want: accepted(C, ""),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, []InsertCacheEntry{{CacheKey: "k", CacheExpiration: &exp, StateID: res.NewState.ID}}, effectsOf[InsertCacheEntry](res))
			},
		},
		{
			name: "over-long key is rejected and not cached", initial: st(R, "", t0.Add(-time.Second)),
			proposed: withCacheKey(st(C, "", t0), strings.Repeat("é", 2001)), want: rejected(C, ""),
			check: func(t *testing.T, res *Result) { require.Empty(t, effectsOf[InsertCacheEntry](res)) },
		},
		{
			name: "no key no entry", initial: st(R, "", t0.Add(-time.Second)), proposed: st(C, "", t0), want: accepted(C, ""),
			check: func(t *testing.T, res *Result) { require.Empty(t, effectsOf[InsertCacheEntry](res)) },
		},
	})
}

func TestHandleTaskTerminalStateTransitions(t *testing.T) {
	completedPersisted := st(C, "", t0.Add(-time.Hour))
	completedPersisted.Data = persisted
	retriedFlow := func(l *fakeLookup, r *Run) {
		r.RunCount, r.FlowRunRunCount = 2, 1
		l.flowRuns[*r.FlowRunID].RunCount = 2
	}
	runTaskCases(t, []taskCase{
		{name: "terminal to crashed aborts", initial: st(F, "", t0.Add(-time.Hour)), proposed: st(CR, "", t0), want: aborted},
		{name: "terminal to cancelling aborts", initial: st(C, "", t0.Add(-time.Hour)), proposed: st(CI, "", t0), want: aborted},
		{name: "completed with persisted result cannot rerun", initial: completedPersisted, proposed: st(R, "", t0), want: rejected(C, "")},
		{
			name: "rerun in a retried flow resets run count and is named Retrying", setup: retriedFlow,
			initial: st(F, "", t0.Add(-time.Hour)), proposed: st(R, "", t0), want: accepted(R, apitype.StateNameRetrying),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, 1, res.Run.RunCount, "reset to 0, then counted")
				require.Equal(t, 2, res.Run.FlowRunRunCount)
			},
		},
		{
			name: "terminal to terminal keeps run count", setup: func(_ *fakeLookup, r *Run) { r.RunCount = 3 },
			initial: st(F, "", t0.Add(-time.Hour)), proposed: st(C, "", t0), want: accepted(C, ""),
			check: func(t *testing.T, res *Result) { require.Equal(t, 3, res.Run.RunCount) },
		},
		{
			// PreventRunningTasksFromStoppedFlows aborts after the reset:
			// the rule fizzles and its run_count change is undone.
			name: "fizzled rerun restores run count", setup: func(l *fakeLookup, r *Run) {
				r.RunCount = 3
				l.flowRuns[*r.FlowRunID].State = st(C, "", t0)
			},
			initial: st(F, "", t0.Add(-time.Hour)), proposed: st(R, "", t0), want: aborted,
			check: func(t *testing.T, res *Result) { require.Equal(t, 3, res.Run.RunCount) },
		},
	})
}

func TestPreventRunningTasksFromStoppedFlows(t *testing.T) {
	pauseTimeout := t0.Add(time.Hour)
	flowState := func(s *apitype.State) func(*fakeLookup, *Run) {
		return func(l *fakeLookup, r *Run) { l.flowRuns[*r.FlowRunID].State = s }
	}
	paused := st(PA, "", t0)
	paused.StateDetails.PauseTimeout = &pauseTimeout
	runTaskCases(t, []taskCase{
		{name: "flow running is accepted", initial: st(P, "", t0), proposed: st(R, "", t0), want: accepted(R, "")},
		{name: "flow without state aborts", setup: flowState(nil), initial: st(P, "", t0), proposed: st(R, "", t0), want: aborted},
		{name: "flow completed aborts", setup: flowState(st(C, "", t0)), initial: st(P, "", t0), proposed: st(R, "", t0), want: aborted},
		{
			name: "flow paused answers NotReady", setup: flowState(paused), initial: st(P, "", t0), proposed: st(R, "", t0),
			want: rejected(PA, apitype.StateNameNotReady),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, pauseTimeout, *res.NewState.StateDetails.PauseTimeout)
			},
		},
		{name: "task without flow run is accepted", setup: func(_ *fakeLookup, r *Run) { r.FlowRunID = nil }, initial: st(P, "", t0), proposed: st(R, "", t0), want: accepted(R, "")},
	})
}

func TestRetryFailedTasks(t *testing.T) {
	retries := func(n, count int, delays ...float64) func(*fakeLookup, *Run) {
		return func(_ *fakeLookup, r *Run) {
			r.RunCount = count
			r.TaskPolicy = TaskRunPolicy{Retries: &n, RetryDelay: delays}
		}
	}
	notRetriable := st(F, "", t0)
	notRetriable.StateDetails.Retriable = ptr(false)
	at := func(d time.Duration) func(*testing.T, *Result) {
		return func(t *testing.T, res *Result) { require.Equal(t, t0.Add(d), *res.NewState.StateDetails.ScheduledTime) }
	}
	running := st(R, "", t0.Add(-time.Second))
	runTaskCases(t, []taskCase{
		{name: "retries left becomes AwaitingRetry", setup: retries(2, 1, 5), initial: running, proposed: st(F, "", t0), want: rejected(S, apitype.StateNameAwaitingRetry), check: at(5 * time.Second)},
		{name: "delay list is indexed by attempt", setup: retries(3, 2, 1, 10, 100), initial: running, proposed: st(F, "", t0), want: rejected(S, apitype.StateNameAwaitingRetry), check: at(10 * time.Second)},
		{name: "delay list repeats its last entry", setup: retries(5, 4, 1, 10), initial: running, proposed: st(F, "", t0), want: rejected(S, apitype.StateNameAwaitingRetry), check: at(10 * time.Second)},
		{name: "retries exhausted is accepted", setup: retries(2, 3), initial: running, proposed: st(F, "", t0), want: accepted(F, "")},
		{name: "retriable false is accepted", setup: retries(2, 1), initial: running, proposed: notRetriable, want: accepted(F, "")},
	})
	// Jitter stays within [lower, avg*(1+factor)].
	for _, u := range []float64{0, 0.5, 0.999} {
		d := clampedPoissonInterval(10, 0.5, func() float64 { return u })
		require.GreaterOrEqual(t, d, 0.0)
		require.LessOrEqual(t, d, 15.0+1e-9)
	}
}

func TestRenameReruns(t *testing.T) {
	count := func(n int) func(*fakeLookup, *Run) { return func(_ *fakeLookup, r *Run) { r.RunCount = n } }
	runTaskCases(t, []taskCase{
		{name: "first run keeps its name", initial: st(P, "", t0), proposed: st(R, "", t0), want: accepted(R, "")},
		{name: "after AwaitingRetry is Retrying", setup: count(1), initial: scheduled(apitype.StateNameAwaitingRetry, t0, t0), proposed: st(R, "", t0), want: accepted(R, apitype.StateNameRetrying)},
		{name: "other reruns are Rerunning", setup: count(1), initial: st(P, "", t0), proposed: st(R, "", t0), want: accepted(R, apitype.StateNameRerunning)},
	})
}

func TestUpdateFlowRunTrackerOnTasks(t *testing.T) {
	runTaskCases(t, []taskCase{{
		name: "running records the flow run attempt", setup: func(l *fakeLookup, r *Run) { l.flowRuns[*r.FlowRunID].RunCount = 4 },
		initial: st(P, "", t0), proposed: st(R, "", t0), want: accepted(R, ""),
		check: func(t *testing.T, res *Result) { require.Equal(t, 4, res.Run.FlowRunRunCount) },
	}})
}

func TestBackgroundTaskPolicy(t *testing.T) {
	params := uuid.New()
	sched := scheduled("", t0.Add(-time.Minute), t0.Add(-time.Minute))
	sched.StateDetails.Deferred = true
	sched.StateDetails.TaskParametersID = &params
	pending := st(P, "", t0)
	pending.StateDetails.Deferred = true
	run := taskRun()

	res := orchestrate(t, nil, Request{Run: run, Initial: sched, Proposed: pending})
	require.Equal(t, accepted(P, ""), outcomeOf(res))
	require.Equal(t, params, *res.NewState.StateDetails.TaskParametersID, "CopyTaskParametersID")

	res = orchestrate(t, nil, Request{Run: run, Initial: res.State, Proposed: pending.Clone()})
	require.Equal(t, apitype.SetStateStatusAbort, res.Status, "a second task worker cannot take it")

	fresh := scheduled("", t0, t0)
	fresh.StateDetails.Deferred = true
	res = orchestrate(t, nil, Request{Run: run, Proposed: fresh})
	require.Equal(t, []EnqueueBackgroundTask{{TaskRunID: run.ID, TaskKey: "k"}}, effectsOf[EnqueueBackgroundTask](res))
	retry := scheduled(apitype.StateNameAwaitingRetry, t0, t0)
	retry.StateDetails.Deferred = true
	res = orchestrate(t, nil, Request{Run: run, Initial: st(F, "", t0), Proposed: retry})
	require.Equal(t, []EnqueueBackgroundTask{{TaskRunID: run.ID, TaskKey: "k", Retry: true}}, effectsOf[EnqueueBackgroundTask](res))
}
