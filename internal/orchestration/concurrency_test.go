package orchestration

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// deploymentFixture registers a deployment with a v2 limit.
func deploymentFixture(l *fakeLookup, run *Run, limit, active int, strategy string) uuid.UUID {
	withDeployment(run)
	limitID := uuid.New()
	l.deployments[*run.DeploymentID] = &DeploymentConcurrency{
		DeploymentID: *run.DeploymentID, ConcurrencyLimitID: &limitID, CollisionStrategy: strategy,
		Limit: &ConcurrencyLimit{ID: limitID, Name: "deployment:x", Limit: limit, ActiveSlots: active, Active: true},
	}
	return limitID
}

func TestSecureFlowConcurrencySlots(t *testing.T) {
	for _, tc := range []struct {
		name            string
		limit, active   int
		strategy        string
		client          string
		want            outcome
		wantSlotEffects bool
	}{
		{name: "free slot is taken under a lease", limit: 2, active: 1, want: accepted(P, ""), wantSlotEffects: true},
		{name: "full with ENQUEUE waits as AwaitingConcurrencySlot", limit: 1, active: 1, strategy: CollisionEnqueue, want: rejected(S, apitype.StateNameAwaitingConcurrencySlot)},
		{name: "full without options enqueues", limit: 1, active: 1, want: rejected(S, apitype.StateNameAwaitingConcurrencySlot)},
		{name: "full with CANCEL_NEW cancels", limit: 1, active: 1, strategy: CollisionCancelNew, want: rejected(X, "")},
		{name: "zero limit aborts", limit: 0, want: outcome{status: apitype.SetStateStatusAbort, typ: S, name: "Scheduled"}},
		{name: "old workers manage the slot themselves", limit: 1, active: 1, client: "3.0.2", want: accepted(P, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLookup()
			run := flowRun()
			limitID := deploymentFixture(l, run, tc.limit, tc.active, tc.strategy)
			res := orchestrate(t, l, Request{Run: run, Initial: scheduled("", t0, t0), Proposed: st(P, "", t0), ClientVersion: tc.client})
			require.Equal(t, tc.want, outcomeOf(res))
			inc, leases := effectsOf[IncrementSlots](res), effectsOf[CreateLease](res)
			if !tc.wantSlotEffects {
				require.Empty(t, inc)
				require.Empty(t, leases)
				return
			}
			require.Equal(t, []IncrementSlots{{LimitIDs: []uuid.UUID{limitID}, Slots: 1}}, inc)
			require.Len(t, leases, 1)
			require.Equal(t, t0.Add(300*time.Second), leases[0].Expiration)
			require.Equal(t, leases[0].LeaseID, *res.NewState.StateDetails.DeploymentConcurrencyLeaseID)
			if tc.want.typ == S {
				require.Equal(t, t0.Add(30*time.Second), *res.NewState.StateDetails.ScheduledTime)
			}
		})
	}
}

func TestValidateDeploymentConcurrencyAtRunning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		alive  bool
		active int
		client string
		want   outcome
		check  func(t *testing.T, res *Result, lease uuid.UUID)
	}{
		{name: "live lease is renewed", alive: true, active: 1, client: "3.9.1", want: accepted(R, ""), check: func(t *testing.T, res *Result, lease uuid.UUID) {
			require.Equal(t, []RenewLease{{LeaseID: lease, Expiration: t0.Add(300 * time.Second)}}, effectsOf[RenewLease](res))
		}},
		{name: "reaped lease with a free slot is retaken", active: 0, client: "3.9.1", want: accepted(R, ""), check: func(t *testing.T, res *Result, lease uuid.UUID) {
			created := effectsOf[CreateLease](res)
			require.Len(t, created, 1)
			require.Equal(t, &LeaseHolder{Type: "flow_run", ID: res.Run.ID}, created[0].Holder)
			require.Equal(t, created[0].LeaseID, *res.NewState.StateDetails.DeploymentConcurrencyLeaseID)
		}},
		{name: "reaped lease without a slot cancels", active: 1, client: "3.9.1", want: rejected(X, "")},
		{name: "old clients are not validated", active: 1, client: "3.4.0", want: accepted(R, ""), check: func(t *testing.T, res *Result, lease uuid.UUID) {
			require.Equal(t, []RevokeLease{{LeaseID: lease}}, effectsOf[RevokeLease](res), "RemoveDeploymentConcurrencyLeaseForOldClientVersions")
			require.Equal(t, lease, *res.NewState.StateDetails.DeploymentConcurrencyLeaseID)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLookup()
			run := flowRun()
			deploymentFixture(l, run, 1, tc.active, "")
			lease := uuid.New()
			l.leases[lease] = tc.alive
			pending := st(P, "", t0.Add(-time.Second))
			pending.StateDetails.DeploymentConcurrencyLeaseID = &lease
			res := orchestrate(t, l, Request{Run: run, Initial: pending, Proposed: st(R, "", t0), ClientVersion: tc.client})
			require.Equal(t, tc.want, outcomeOf(res))
			if tc.check != nil {
				tc.check(t, res, lease)
			}
		})
	}
}

func TestReleaseFlowConcurrencySlots(t *testing.T) {
	lease := uuid.New()
	withLease := func(s *apitype.State) *apitype.State { s.StateDetails.DeploymentConcurrencyLeaseID = &lease; return s }
	for _, tc := range []struct {
		name     string
		initial  *apitype.State
		proposed *apitype.State
		retries  bool
		want     []Effect
	}{
		{name: "leaving running with a lease releases it", initial: withLease(st(R, "", t0)), proposed: st(C, "", t0)},
		{name: "leaving running without a lease frees one slot", initial: st(R, "", t0), proposed: st(C, "", t0)},
		{name: "running to cancelling keeps the slot", initial: withLease(st(R, "", t0)), proposed: st(CI, "", t0)},
		{name: "in-process retry keeps the slot", initial: withLease(st(R, "", t0)), proposed: st(F, "", t0), retries: true},
		{name: "scheduled to pending does not release", initial: scheduled("", t0, t0), proposed: st(P, "", t0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLookup()
			run := flowRun()
			limitID := deploymentFixture(l, run, 5, 0, "")
			if tc.retries {
				run.FlowPolicy.Retries = ptr(3)
			}
			res := orchestrate(t, l, Request{Run: run, Initial: tc.initial, Proposed: tc.proposed})
			releases, decs := effectsOf[ReleaseLease](res), effectsOf[DecrementSlots](res)
			switch tc.name {
			case "leaving running with a lease releases it":
				require.Equal(t, []ReleaseLease{{LeaseID: lease, FallbackLimitIDs: []uuid.UUID{limitID}}}, releases)
				require.Empty(t, decs)
			case "leaving running without a lease frees one slot":
				require.Empty(t, releases)
				require.Equal(t, []DecrementSlots{{LimitIDs: []uuid.UUID{limitID}, Slots: 1}}, decs)
			default:
				require.Empty(t, releases)
				require.Empty(t, decs)
			}
		})
	}
}

func TestForcedTransitionStillReleasesSlots(t *testing.T) {
	l := newFakeLookup()
	run := flowRun()
	limitID := deploymentFixture(l, run, 5, 1, "")
	res := orchestrate(t, l, Request{Run: run, Initial: st(R, "", t0), Proposed: st(X, "", t0), Force: true})
	require.Equal(t, accepted(X, ""), outcomeOf(res))
	require.Equal(t, []DecrementSlots{{LimitIDs: []uuid.UUID{limitID}, Slots: 1}}, effectsOf[DecrementSlots](res))
}

func TestEnforceDeploymentConcurrencyOnLate(t *testing.T) {
	late := MarkLateRunsPolicy()
	for _, tc := range []struct {
		name     string
		active   int
		strategy string
		want     outcome
	}{
		{name: "full CANCEL_NEW cancels instead of Late", active: 1, strategy: CollisionCancelNew, want: rejected(X, "")},
		{name: "free CANCEL_NEW is marked Late", active: 0, strategy: CollisionCancelNew, want: accepted(S, apitype.StateNameLate)},
		{name: "full ENQUEUE is marked Late", active: 1, strategy: CollisionEnqueue, want: accepted(S, apitype.StateNameLate)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLookup()
			run := flowRun()
			deploymentFixture(l, run, 1, tc.active, tc.strategy)
			res := orchestrate(t, l, Request{Run: run, Initial: scheduled("", t0, t0), Proposed: scheduled(apitype.StateNameLate, t0, t0), Policy: &late})
			require.Equal(t, tc.want, outcomeOf(res))
		})
	}
}

func TestSecureTaskConcurrencySlots(t *testing.T) {
	v2ID := uuid.New()
	for _, tc := range []struct {
		name  string
		setup func(l *fakeLookup)
		want  outcome
		check func(t *testing.T, res *Result)
	}{
		{name: "no limits runs", want: accepted(R, "")},
		{
			name: "v2 tag limit with room takes a slot under a lease",
			setup: func(l *fakeLookup) {
				l.limits["tag:db"] = ConcurrencyLimit{ID: v2ID, Name: "tag:db", Limit: 2, ActiveSlots: 1, Active: true}
			},
			want: accepted(R, ""),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, []IncrementSlots{{LimitIDs: []uuid.UUID{v2ID}, Slots: 1}}, effectsOf[IncrementSlots](res))
				require.Equal(t, &LeaseHolder{Type: "task_run", ID: res.Run.ID}, effectsOf[CreateLease](res)[0].Holder)
			},
		},
		{
			name: "full v2 limit waits without taking anything",
			setup: func(l *fakeLookup) {
				l.limits["tag:db"] = ConcurrencyLimit{ID: v2ID, Name: "tag:db", Limit: 1, ActiveSlots: 1, Active: true, AvgSlotOccupancySeconds: 4}
			},
			want: waited,
			check: func(t *testing.T, res *Result) {
				require.Positive(t, res.Details.DelaySeconds)
				require.LessOrEqual(t, res.Details.DelaySeconds, 6)
				require.Equal(t, "Concurrency limit reached for tags: db", *res.Details.Reason)
				require.Empty(t, res.Effects)
			},
		},
		{name: "zero v2 limit aborts", setup: func(l *fakeLookup) {
			l.limits["tag:db"] = ConcurrencyLimit{ID: v2ID, Name: "tag:db", Limit: 0, Active: true}
		}, want: aborted},
		{
			name: "v1 limit with room records the run",
			setup: func(l *fakeLookup) {
				l.tagLimits["db"] = TagConcurrencyLimit{Tag: "db", Limit: 2, ActiveSlots: []string{"other"}}
			},
			want: accepted(R, ""),
			check: func(t *testing.T, res *Result) {
				require.Equal(t, []AddTagSlot{{Tag: "db", TaskRunID: res.Run.ID}}, effectsOf[AddTagSlot](res))
			},
		},
		{
			name: "full v1 limit waits the configured seconds",
			setup: func(l *fakeLookup) {
				l.tagLimits["db"] = TagConcurrencyLimit{Tag: "db", Limit: 1, ActiveSlots: []string{"other"}}
			},
			want:  waited,
			check: func(t *testing.T, res *Result) { require.Equal(t, 10, res.Details.DelaySeconds) },
		},
		{name: "zero v1 limit aborts", setup: func(l *fakeLookup) { l.tagLimits["db"] = TagConcurrencyLimit{Tag: "db"} }, want: aborted},
		{
			name: "v2 shadows v1 for the same tag",
			setup: func(l *fakeLookup) {
				l.limits["tag:db"] = ConcurrencyLimit{ID: v2ID, Name: "tag:db", Limit: 2, Active: true}
				l.tagLimits["db"] = TagConcurrencyLimit{Tag: "db", Limit: 0}
			},
			want:  accepted(R, ""),
			check: func(t *testing.T, res *Result) { require.Empty(t, effectsOf[AddTagSlot](res)) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLookup()
			run := taskRun()
			run.Tags = []string{"db"}
			if tc.setup != nil {
				tc.setup(l)
			}
			res := orchestrate(t, l, Request{Run: run, Initial: st(P, "", t0), Proposed: st(R, "", t0)})
			got := outcomeOf(res)
			if tc.want.status != apitype.SetStateStatusAccept {
				got.typ, got.name = "", ""
			}
			require.Equal(t, tc.want, got)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

// TestCachedTaskTakesNoSlot: cache retrieval comes first, so a cached run
// never takes (or waits for) a tag slot.
func TestCachedTaskTakesNoSlot(t *testing.T) {
	l := newFakeLookup()
	l.cache["k"] = st(C, "", t0.Add(-time.Hour))
	l.limits["tag:db"] = ConcurrencyLimit{ID: uuid.New(), Name: "tag:db", Limit: 1, ActiveSlots: 1, Active: true}
	run := taskRun()
	run.Tags = []string{"db"}
	res := orchestrate(t, l, Request{Run: run, Initial: st(P, "", t0), Proposed: withCacheKey(st(R, "", t0), "k")})
	require.Equal(t, rejected(C, apitype.StateNameCached), outcomeOf(res))
	require.Empty(t, effectsOf[IncrementSlots](res))
}

func TestReleaseTaskConcurrencySlots(t *testing.T) {
	v2ID := uuid.New()
	l := newFakeLookup()
	l.limits["tag:db"] = ConcurrencyLimit{ID: v2ID, Name: "tag:db", Limit: 2, Active: true}
	l.tagLimits["io"] = TagConcurrencyLimit{Tag: "io", Limit: 2}
	run := taskRun()
	run.Tags = []string{"db", "io"}
	for _, force := range []bool{false, true} {
		res := orchestrate(t, l, Request{Run: run, Initial: st(R, "", t0), Proposed: st(C, "", t0), Force: force})
		require.Equal(t, []ReleaseHolderLeases{{Holder: LeaseHolder{Type: "task_run", ID: run.ID}, LimitIDs: []uuid.UUID{v2ID}}}, effectsOf[ReleaseHolderLeases](res))
		require.Equal(t, []RemoveTagSlot{{Tag: "io", TaskRunID: run.ID}}, effectsOf[RemoveTagSlot](res))
	}
	res := orchestrate(t, l, Request{Run: run, Initial: st(P, "", t0), Proposed: st(R, "", t0)})
	require.Empty(t, effectsOf[ReleaseHolderLeases](res), "entering RUNNING keeps slots")
}
