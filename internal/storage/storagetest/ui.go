package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testUI(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("FlowRunSimpleList", func(t *testing.T) { testFlowRunSimpleList(t, open(t)) })
	t.Run("TaskRunCountsByFlowRun", func(t *testing.T) { testTaskRunCountsByFlowRun(t, open(t)) })
	t.Run("NextScheduledFlowRuns", func(t *testing.T) { testNextScheduledFlowRuns(t, open(t)) })
	t.Run("TaskRunCountsByState", func(t *testing.T) { testTaskRunCountsByState(t, open(t)) })
	t.Run("TaskRunStartBuckets", func(t *testing.T) { testTaskRunStartBuckets(t, open(t)) })
	t.Run("FlowRunAverageLateness", func(t *testing.T) { testFlowRunAverageLateness(t, open(t)) })
}

func flowIDFilter(ids ...uuid.UUID) *apitype.FlowFilter {
	return &apitype.FlowFilter{ID: &apitype.FilterID{Any: ids}}
}

func flowRunIDFilter(ids ...uuid.UUID) *apitype.FlowRunFilter {
	return &apitype.FlowRunFilter{ID: &apitype.FilterID{Any: ids}}
}

func testFlowRunSimpleList(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	// No state: skipped, it cannot be drawn.
	createFlowRun(t, s, f.flowB.ID, "stateless", func(r *apitype.FlowRun) { r.ExpectedStartTime = ptr(at(50)) })

	list := func(p storage.RunListParams) []storage.SimpleFlowRun {
		t.Helper()
		rows, err := s.FlowRunSimpleList(ctx, &p)
		require.NoError(t, err)
		return rows
	}
	runIDs := func(rows []storage.SimpleFlowRun) []uuid.UUID {
		return ids(rows, func(r storage.SimpleFlowRun) uuid.UUID { return r.ID })
	}
	desc := apitype.FlowRunSortExpectedStartTimeDesc
	require.Equal(t, []uuid.UUID{f.gamma.ID, f.beta.ID, f.alpha.ID}, runIDs(list(storage.RunListParams{Sort: desc})))
	require.Equal(t, []uuid.UUID{f.beta.ID}, runIDs(list(storage.RunListParams{Sort: desc, Limit: 1, Offset: 1})))
	require.Equal(t, []uuid.UUID{f.beta.ID, f.alpha.ID},
		runIDs(list(storage.RunListParams{Sort: desc, RunQuery: storage.RunQuery{Flows: flowIDFilter(f.flowA.ID)}})))
	require.Equal(t, []uuid.UUID{f.alpha.ID, f.beta.ID, f.gamma.ID}, runIDs(list(storage.RunListParams{Sort: apitype.FlowRunSortNameAsc})))

	rows := list(storage.RunListParams{RunQuery: storage.RunQuery{FlowRuns: flowRunIDFilter(f.beta.ID)}})
	require.Equal(t, []storage.SimpleFlowRun{{ID: f.beta.ID, StateType: apitype.StateTypeCompleted, StateTimestamp: ptr(stored(at(30))),
		StartTime: ptr(stored(at(20))), ExpectedStartTime: ptr(stored(at(19))), TotalRunTime: 1500 * time.Millisecond}}, rows)
	rows = list(storage.RunListParams{RunQuery: storage.RunQuery{FlowRuns: flowRunIDFilter(f.gamma.ID)}})
	require.Len(t, rows, 1)
	require.Nil(t, rows[0].StartTime)
	require.Equal(t, stored(at(40)), *rows[0].ExpectedStartTime)
}

func testTaskRunCountsByFlowRun(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	counts, err := s.TaskRunCountsByFlowRun(ctx, []uuid.UUID{f.alpha.ID, f.beta.ID, f.gamma.ID, uuid.New()})
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID]int64{f.beta.ID: 1}, counts, "alpha's only task run tracks the subflow gamma")

	createTaskRun(t, s, &f.alpha.ID, "task-three", "k4")
	createTaskRun(t, s, &f.alpha.ID, "task-four", "k5")
	counts, err = s.TaskRunCountsByFlowRun(ctx, []uuid.UUID{f.alpha.ID})
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID]int64{f.alpha.ID: 2}, counts, "only the requested flow runs")

	counts, err = s.TaskRunCountsByFlowRun(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, counts)
}

func testNextScheduledFlowRuns(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	scheduled := func(flowID uuid.UUID, name string, next *time.Time) *apitype.FlowRun {
		fr := createFlowRun(t, s, flowID, name, func(r *apitype.FlowRun) { r.NextScheduledStartTime = next })
		setFlowRunState(t, s, fr.ID, newState(apitype.StateTypeScheduled, "Scheduled", at(1)), nil, nil)
		return fr
	}
	// Flow A's only scheduled run has no next start time: A has no next run.
	scheduled(f.flowA.ID, "unplanned", nil)

	next, err := s.NextScheduledFlowRuns(ctx, []uuid.UUID{f.flowA.ID, f.flowB.ID, uuid.New()})
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID]storage.NextFlowRun{f.flowB.ID: {ID: f.gamma.ID, FlowID: f.flowB.ID, Name: "gamma",
		StateName: "Late", StateType: apitype.StateTypeScheduled, NextScheduledStartTime: stored(at(40))}}, next)

	// An earlier run wins; of two at the same time, the smaller id.
	d := scheduled(f.flowB.ID, "delta", ptr(at(35)))
	e := scheduled(f.flowB.ID, "epsilon", ptr(at(35)))
	scheduled(f.flowB.ID, "later", ptr(at(36)))
	first := d
	if strings.Compare(e.ID.String(), d.ID.String()) < 0 {
		first = e
	}
	next, err = s.NextScheduledFlowRuns(ctx, []uuid.UUID{f.flowB.ID})
	require.NoError(t, err)
	require.Len(t, next, 1)
	require.Equal(t, first.ID, next[f.flowB.ID].ID)
	require.Equal(t, stored(at(35)), next[f.flowB.ID].NextScheduledStartTime)

	// A run that left SCHEDULED is no longer next.
	setFlowRunState(t, s, d.ID, newState(apitype.StateTypePending, "Pending", at(2)), nil, nil)
	setFlowRunState(t, s, e.ID, newState(apitype.StateTypePending, "Pending", at(2)), nil, nil)
	next, err = s.NextScheduledFlowRuns(ctx, []uuid.UUID{f.flowB.ID})
	require.NoError(t, err)
	require.Equal(t, "later", next[f.flowB.ID].Name)
}

func testTaskRunCountsByState(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	for _, tc := range []struct {
		name string
		q    *storage.RunQuery
		want map[apitype.StateType]int64
	}{
		{"All", nil, map[apitype.StateType]int64{apitype.StateTypeCompleted: 1, apitype.StateTypeFailed: 1}},
		{"ByFlow", &storage.RunQuery{Flows: flowIDFilter(f.flowA.ID)}, map[apitype.StateType]int64{apitype.StateTypeCompleted: 1, apitype.StateTypeFailed: 1}},
		{"ByFlowRun", &storage.RunQuery{FlowRuns: flowRunIDFilter(f.beta.ID)}, map[apitype.StateType]int64{apitype.StateTypeFailed: 1}},
		{"NoMatch", &storage.RunQuery{Flows: flowIDFilter(f.flowB.ID)}, map[apitype.StateType]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TaskRunCountsByState(ctx, tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func testTaskRunStartBuckets(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s) // task run one started at 11, two at 21, orphan never
	nonEmpty := func(q *storage.RunQuery, start time.Time, width time.Duration, n int) map[int]storage.StateTypeCounts {
		t.Helper()
		got, err := s.TaskRunStartBuckets(ctx, q, start, width, n)
		require.NoError(t, err)
		require.Len(t, got, n)
		out := map[int]storage.StateTypeCounts{}
		for i, c := range got {
			if len(c) > 0 {
				out[i] = c
			}
		}
		return out
	}
	completed := storage.StateTypeCounts{apitype.StateTypeCompleted: 1}
	failed := storage.StateTypeCounts{apitype.StateTypeFailed: 1}
	require.Equal(t, map[int]storage.StateTypeCounts{1: completed, 11: failed}, nonEmpty(nil, at(10), time.Second, 15))
	require.Equal(t, map[int]storage.StateTypeCounts{0: completed}, nonEmpty(nil, at(11), 2*time.Second, 5),
		"a bucket holds its start; the last one's end is exclusive (21 is out)")
	require.Equal(t, map[int]storage.StateTypeCounts{4: failed}, nonEmpty(nil, at(11).Add(time.Microsecond), 2*time.Second, 6),
		"one microsecond after 11 excludes task run one; 21 falls in [19, 21+1µs)")
	require.Equal(t, map[int]storage.StateTypeCounts{0: {apitype.StateTypeCompleted: 1, apitype.StateTypeFailed: 1}},
		nonEmpty(nil, at(0), time.Minute, 1))
	require.Equal(t, map[int]storage.StateTypeCounts{0: failed},
		nonEmpty(&storage.RunQuery{FlowRuns: flowRunIDFilter(f.beta.ID)}, at(0), time.Minute, 1))
	require.Empty(t, nonEmpty(nil, at(0), 0, 3), "a zero width counts nothing")
}

func testFlowRunAverageLateness(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	avg := func(q *storage.RunQuery, now time.Time) *float64 {
		t.Helper()
		got, err := s.FlowRunAverageLateness(ctx, q, now)
		require.NoError(t, err)
		return got
	}
	// alpha and beta started 1 s late; gamma has not started, 60 s past its
	// expected start at 100.
	got := avg(nil, at(100))
	require.NotNil(t, got)
	require.InDelta(t, 62.0/3, *got, 1e-9)
	require.InDelta(t, 1.0, *avg(&storage.RunQuery{Flows: flowIDFilter(f.flowA.ID)}, at(100)), 1e-9)
	require.InDelta(t, 0.0, *avg(&storage.RunQuery{FlowRuns: flowRunIDFilter(f.gamma.ID)}, at(30)), 1e-9, "not yet due")
	require.Nil(t, avg(&storage.RunQuery{FlowRuns: flowRunIDFilter(uuid.New())}, at(100)))

	// Microseconds count (SQLite's date functions alone would round to ms).
	flowC := createFlow(t, s, "C", nil, 0)
	late := createFlowRun(t, s, flowC.ID, "late", func(r *apitype.FlowRun) { r.ExpectedStartTime = ptr(at(50)) })
	setFlowRunState(t, s, late.ID, newState(apitype.StateTypeRunning, "Running", at(51)), ptr(at(50).Add(1500*time.Microsecond)), nil)
	require.InDelta(t, 0.0015, *avg(&storage.RunQuery{Flows: flowIDFilter(flowC.ID)}, at(100)), 1e-9)
	// Terminal runs that never started are not late.
	done := createFlowRun(t, s, flowC.ID, "skipped", func(r *apitype.FlowRun) { r.ExpectedStartTime = ptr(at(50)) })
	setFlowRunState(t, s, done.ID, newState(apitype.StateTypeCancelled, "Cancelled", at(51)), nil, nil)
	require.InDelta(t, 0.0015/2, *avg(&storage.RunQuery{Flows: flowIDFilter(flowC.ID)}, at(100)), 1e-9)
}
