package orchestration

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

// walk forces a run through states at given times (force keeps the rules
// out of the way) and returns the final run.
func walk(t *testing.T, run *Run, cur *apitype.State, states ...*apitype.State) (*Run, *apitype.State) {
	t.Helper()
	for _, s := range states {
		res := orchestrate(t, nil, Request{Run: run, Initial: cur, Proposed: s, Force: true})
		require.NotNil(t, res.NewState)
		run, cur = res.Run, res.State
	}
	return run, cur
}

func TestGlobalTransformsBookkeeping(t *testing.T) {
	for _, kind := range []RunKind{FlowRunKind, TaskRunKind} {
		t.Run(kind.String(), func(t *testing.T) {
			run := &Run{Kind: kind, ID: uuid.New()}
			at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
			sched := scheduled("", at(0), at(5))
			run, cur := walk(t, run, nil, sched)
			require.Equal(t, at(5), *run.ExpectedStartTime, "expected start is the scheduled time")
			require.Equal(t, at(5), *run.NextScheduledStartTime)
			require.Equal(t, S, run.StateType)

			run, cur = walk(t, run, cur, st(P, "", at(6)))
			require.Nil(t, run.NextScheduledStartTime, "cleared on leaving SCHEDULED")

			run, cur = walk(t, run, cur, st(R, "", at(10)), st(F, "", at(13)), st(R, "", at(20)), st(C, "", at(30)))
			require.Equal(t, 2, run.RunCount, "run_count counts entries into RUNNING")
			require.Equal(t, at(10), *run.StartTime, "start time is set once")
			require.Equal(t, 13*time.Second, run.TotalRunTime, "3s + 10s in RUNNING")
			require.Equal(t, at(30), *run.EndTime)
			require.Equal(t, apitype.StateTypeCompleted, run.StateType)
			require.Equal(t, "Completed", run.StateName)
			require.Equal(t, at(30), *run.StateTimestamp)
			require.Equal(t, at(5), *run.ExpectedStartTime, "expected start never moves")

			run, _ = walk(t, run, cur, st(R, "", at(40)))
			require.Nil(t, run.EndTime, "leaving a terminal state clears the end time")
		})
	}
}

func TestSetEndTimeSetsStartTimeForRunsThatNeverRan(t *testing.T) {
	run, _ := walk(t, flowRun(), nil, st(P, "", t0), st(CR, "", t0.Add(time.Second)))
	require.Equal(t, t0.Add(time.Second), *run.StartTime)
	require.Equal(t, t0.Add(time.Second), *run.EndTime)
	require.Equal(t, t0, *run.ExpectedStartTime, "non-scheduled first state: its timestamp")
}

func TestUpdateStateDetails(t *testing.T) {
	fr := flowRun()
	res := orchestrate(t, nil, Request{Run: fr, Proposed: st(R, "", t0)})
	require.Equal(t, fr.ID, *res.NewState.StateDetails.FlowRunID)
	require.Nil(t, res.NewState.StateDetails.TaskRunID)

	tr := taskRun()
	tr.FlowRunID = idp()
	res = orchestrate(t, nil, Request{Run: tr, Proposed: st(P, "", t0)})
	require.Equal(t, *tr.FlowRunID, *res.NewState.StateDetails.FlowRunID)
	require.Equal(t, tr.ID, *res.NewState.StateDetails.TaskRunID)
}

// TestSubflowStateMirroredToParentTask covers UpdateSubflowStateDetails and
// UpdateSubflowParentTask.
func TestSubflowStateMirroredToParentTask(t *testing.T) {
	sub := flowRun()
	sub.ParentTaskRunID = idp()
	res := orchestrate(t, nil, Request{Run: sub, Initial: st(P, "", t0), Proposed: st(R, "", t0)})
	require.Equal(t, *sub.ParentTaskRunID, *res.NewState.StateDetails.TaskRunID)
	mirror := effectsOf[SetTaskRunState](res)
	require.Len(t, mirror, 1)
	require.Equal(t, *sub.ParentTaskRunID, mirror[0].TaskRunID)
	require.True(t, mirror[0].Force)
	require.Equal(t, R, mirror[0].State.Type)
	require.NotEqual(t, res.NewState.ID, mirror[0].State.ID, "a fresh copy")
	require.Equal(t, sub.ID, *mirror[0].State.StateDetails.ChildFlowRunID)

	res = orchestrate(t, nil, Request{Run: sub, Initial: st(R, "", t0), Proposed: st(P, "", t0)})
	require.Equal(t, apitype.SetStateStatusAbort, res.Status)
	require.Empty(t, effectsOf[SetTaskRunState](res), "nothing to mirror")
}

func TestEnsureFlowRunStateTimestampIsUnique(t *testing.T) {
	l := newFakeLookup()
	l.takenTimes[t0] = true
	l.takenTimes[t0.Add(time.Microsecond)] = true
	run := flowRun()
	res := orchestrate(t, l, Request{Run: run, Proposed: st(P, "", t0)})
	require.Equal(t, t0.Add(2*time.Microsecond), res.NewState.Timestamp)
	require.Equal(t, t0.Add(2*time.Microsecond), *res.Run.StateTimestamp)
}

func TestIncrementFlowRunCountSkipsResumingRuns(t *testing.T) {
	run := flowRun()
	run.FlowPolicy.Resuming = true
	res := orchestrate(t, nil, Request{Run: run, Initial: st(P, "", t0), Proposed: st(R, "", t0)})
	require.Equal(t, 0, res.Run.RunCount)
	require.False(t, res.Run.FlowPolicy.Resuming, "RemoveResumingIndicator")

	res = orchestrate(t, nil, Request{Run: run, Initial: st(P, "", t0), Proposed: st(R, "", t0), APIVersion: "0.8.3"})
	require.Equal(t, 1, res.Run.RunCount, "pre-0.8.4 clients have no pauses")
}

func TestEstimatedTimes(t *testing.T) {
	started := t0.Add(-time.Minute)
	run := &Run{StateType: R, StateTimestamp: &started, TotalRunTime: 10 * time.Second}
	require.Equal(t, 70*time.Second, run.EstimatedRunTime(t0))
	run.StateType = C
	require.Equal(t, 10*time.Second, run.EstimatedRunTime(t0))

	expected := t0.Add(-30 * time.Second)
	late := &Run{StateType: S, ExpectedStartTime: &expected}
	require.Equal(t, 30*time.Second, late.EstimatedStartTimeDelta(t0), "not started yet: lateness so far")
	late.StateType = X
	require.Zero(t, late.EstimatedStartTimeDelta(t0), "terminal runs are not late")
	startedLate := t0.Add(-10 * time.Second)
	late.StartTime = &startedLate
	require.Equal(t, 20*time.Second, late.EstimatedStartTimeDelta(t0))
}
