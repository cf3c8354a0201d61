package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// runFixture: flows A (tag "prod") and B; flow runs alpha, beta (in A) and
// gamma (in B, a subflow of alpha's task one); task runs one (in alpha),
// two (in beta) and orphan (no flow run).
type runFixture struct {
	flowA, flowB        *apitype.Flow
	alpha, beta, gamma  *apitype.FlowRun
	one, two, orphan    *apitype.TaskRun
	deployment, creator uuid.UUID
}

func newRunFixture(t *testing.T, s storage.Store) *runFixture {
	f := &runFixture{deployment: uuid.New(), creator: uuid.New()}
	f.flowA = createFlow(t, s, "A", []string{"prod"}, 0)
	f.flowB = createFlow(t, s, "B", nil, 0)
	f.alpha = createFlowRun(t, s, f.flowA.ID, "alpha-run", func(r *apitype.FlowRun) {
		r.Tags, r.DeploymentID, r.WorkQueueName, r.FlowVersion = []string{"a", "b"}, &f.deployment, ptr("q1"), ptr("v1")
		r.IdempotencyKey, r.ExpectedStartTime = ptr("k1"), ptr(at(10))
		r.CreatedBy = &apitype.CreatedBy{ID: &f.creator, Type: ptr("DEPLOYMENT")}
	})
	setFlowRunState(t, s, f.alpha.ID, newState(apitype.StateTypeRunning, "Running", at(11)), ptr(at(11)), nil)
	f.beta = createFlowRun(t, s, f.flowA.ID, "beta-run", func(r *apitype.FlowRun) {
		r.Tags, r.FlowVersion, r.ExpectedStartTime, r.IdempotencyKey = []string{"b"}, ptr("v2"), ptr(at(19)), ptr("k2")
	})
	setFlowRunState(t, s, f.beta.ID, newState(apitype.StateTypeCompleted, "Completed", at(30)), ptr(at(20)), ptr(at(30)))
	f.one = createTaskRun(t, s, &f.alpha.ID, "task-one", "k1")
	setTaskRunState(t, s, f.one.ID, newState(apitype.StateTypeCompleted, "Cached", at(12)), ptr(at(11)), ptr(at(12)))
	f.gamma = createFlowRun(t, s, f.flowB.ID, "gamma", func(r *apitype.FlowRun) {
		r.ParentTaskRunID, r.ExpectedStartTime, r.NextScheduledStartTime = &f.one.ID, ptr(at(40)), ptr(at(40))
	})
	setFlowRunState(t, s, f.gamma.ID, newState(apitype.StateTypeScheduled, "Late", at(41)), nil, nil)
	f.two = createTaskRun(t, s, &f.beta.ID, "task-two", "k2")
	setTaskRunState(t, s, f.two.ID, newState(apitype.StateTypeFailed, "Failed", at(25)), ptr(at(21)), ptr(at(25)))
	f.orphan = createTaskRun(t, s, nil, "orphan", "k3")
	return f
}

func testRunFilters(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	names := func(ns ...string) []string { return append([]string{}, ns...) }
	tm := func(n int) *time.Time { return ptr(at(n)) }

	for _, tc := range []struct {
		name string
		q    *storage.RunQuery
		want []string
	}{
		{"Nil", nil, names("alpha-run", "beta-run", "gamma")},
		{"IDAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ID: &apitype.FilterID{Any: []uuid.UUID{f.alpha.ID}}}}, names("alpha-run")},
		{"IDAnyEmpty", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ID: &apitype.FilterID{Any: []uuid.UUID{}}}}, names()},
		{"IDNotAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ID: &apitype.FilterID{NotAny: []uuid.UUID{f.alpha.ID}}}}, names("beta-run", "gamma")},
		{"NameAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Name: &apitype.FilterName{Any: []string{"gamma"}}}}, names("gamma")},
		{"NameLike", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Name: &apitype.FilterName{Like: ptr("RUN")}}}, names("alpha-run", "beta-run")},
		{"TagsAll", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Tags: &apitype.FlowRunFilterTags{All: []string{"a", "b"}}}}, names("alpha-run")},
		{"TagsAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Tags: &apitype.FlowRunFilterTags{Any: []string{"b", "z"}}}}, names("alpha-run", "beta-run")},
		{"TagsIsNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Tags: &apitype.FlowRunFilterTags{IsNull: ptr(true)}}}, names("gamma")},
		{"DeploymentAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{DeploymentID: &apitype.FilterOptionalID{Any: []uuid.UUID{f.deployment}}}}, names("alpha-run")},
		{"DeploymentIsNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{DeploymentID: &apitype.FilterOptionalID{IsNull: ptr(true)}}}, names("beta-run", "gamma")},
		{"WorkQueueAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{WorkQueueName: &apitype.FilterOptionalString{Any: []string{"q1"}}}}, names("alpha-run")},
		{"WorkQueueNotNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{WorkQueueName: &apitype.FilterOptionalString{IsNull: ptr(false)}}}, names("alpha-run")},
		{"StateTypeAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{State: &apitype.FilterState{Type: &apitype.FilterStateType{Any: []apitype.StateType{"RUNNING", "SCHEDULED"}}}}}, names("alpha-run", "gamma")},
		{"StateTypeNotAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{State: &apitype.FilterState{Type: &apitype.FilterStateType{NotAny: []apitype.StateType{"RUNNING"}}}}}, names("beta-run", "gamma")},
		{"StateNameAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{State: &apitype.FilterState{Name: &apitype.FilterStrings{Any: []string{"Late"}}}}}, names("gamma")},
		{"StateNameNotAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{State: &apitype.FilterState{Name: &apitype.FilterStrings{NotAny: []string{"Late"}}}}}, names("alpha-run", "beta-run")},
		{"StateOr", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{State: &apitype.FilterState{Operator: apitype.OperatorOr,
			Type: &apitype.FilterStateType{Any: []apitype.StateType{"COMPLETED"}}, Name: &apitype.FilterStrings{Any: []string{"Late"}}}}}, names("beta-run", "gamma")},
		{"FlowVersion", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{FlowVersion: &apitype.FilterStrings{Any: []string{"v2"}}}}, names("beta-run")},
		// start_time falls back to the expected start (gamma: 40).
		{"StartTimeBefore", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{StartTime: &apitype.FilterTime{Before: tm(20)}}}, names("alpha-run", "beta-run")},
		{"StartTimeAfter", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{StartTime: &apitype.FilterTime{After: tm(20)}}}, names("beta-run", "gamma")},
		{"StartTimeIsNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{StartTime: &apitype.FilterTime{IsNull: ptr(true)}}}, names("gamma")},
		{"EndTimeAfter", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{EndTime: &apitype.FilterTime{After: tm(29)}}}, names("beta-run")},
		{"EndTimeIsNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{EndTime: &apitype.FilterTime{IsNull: ptr(true)}}}, names("alpha-run", "gamma")},
		{"ExpectedStartTime", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ExpectedStartTime: &apitype.FilterTime{After: tm(10), Before: tm(19)}}}, names("alpha-run", "beta-run")},
		{"NextScheduled", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{NextScheduledStartTime: &apitype.FilterTime{Before: tm(40)}}}, names("gamma")},
		{"ParentFlowRun", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ParentFlowRunID: &apitype.FilterOptionalID{Any: []uuid.UUID{f.alpha.ID}}}}, names("gamma")},
		{"ParentTaskRunAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ParentTaskRunID: &apitype.FilterOptionalID{Any: []uuid.UUID{f.one.ID}}}}, names("gamma")},
		{"ParentTaskRunIsNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ParentTaskRunID: &apitype.FilterOptionalID{IsNull: ptr(true)}}}, names("alpha-run", "beta-run")},
		{"IdempotencyAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{IdempotencyKey: &apitype.FilterStrings{Any: []string{"k2"}}}}, names("beta-run")},
		{"IdempotencyNotAny", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{IdempotencyKey: &apitype.FilterStrings{NotAny: []string{"k2"}}}}, names("alpha-run")},
		{"CreatedByID", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{CreatedBy: &apitype.FlowRunFilterCreatedBy{ID: []uuid.UUID{f.creator}}}}, names("alpha-run")},
		{"CreatedByType", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{CreatedBy: &apitype.FlowRunFilterCreatedBy{Type: []string{"DEPLOYMENT"}}}}, names("alpha-run")},
		{"CreatedByIsNull", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{CreatedBy: &apitype.FlowRunFilterCreatedBy{IsNull: ptr(true)}}}, names("beta-run", "gamma")},
		{"Or", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Operator: apitype.OperatorOr,
			Name: &apitype.FilterName{Any: []string{"gamma"}}, FlowVersion: &apitype.FilterStrings{Any: []string{"v1"}}}}, names("alpha-run", "gamma")},
		{"Flows", &storage.RunQuery{Flows: &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"prod"}}}}, names("alpha-run", "beta-run")},
		{"TaskRuns", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{State: &apitype.FilterState{Type: &apitype.FilterStateType{Any: []apitype.StateType{"FAILED"}}}}}, names("beta-run")},
		{"Combined", &storage.RunQuery{Flows: &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"A"}}},
			FlowRuns: &apitype.FlowRunFilter{Tags: &apitype.FlowRunFilterTags{All: []string{"a"}}}}, names("alpha-run")},
		{"Injection", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Name: &apitype.FilterName{Any: []string{"x' OR '1'='1"}}}}, names()},
	} {
		t.Run("FlowRun/"+tc.name, func(t *testing.T) {
			var q storage.RunQuery
			if tc.q != nil {
				q = *tc.q
			}
			got, err := s.FlowRunList(ctx, &storage.RunListParams{RunQuery: q})
			require.NoError(t, err)
			require.Equal(t, tc.want, runNames(got, frName))
			n, err := s.FlowRunCount(ctx, tc.q)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
		})
	}

	for _, tc := range []struct {
		name string
		q    *storage.RunQuery
		want []string
	}{
		{"Nil", nil, names("orphan", "task-one", "task-two")},
		{"IDAny", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{ID: &apitype.FilterID{Any: []uuid.UUID{f.two.ID}}}}, names("task-two")},
		{"NameLike", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{Name: &apitype.FilterName{Like: ptr("task")}}}, names("task-one", "task-two")},
		{"TagsIsNull", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{Tags: &apitype.FilterTags{IsNull: ptr(true)}}}, names("orphan", "task-one", "task-two")},
		{"StateType", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{State: &apitype.FilterState{Type: &apitype.FilterStateType{Any: []apitype.StateType{"COMPLETED"}}}}}, names("task-one")},
		{"StateName", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{State: &apitype.FilterState{Name: &apitype.FilterStrings{Any: []string{"Failed"}}}}}, names("task-two")},
		{"StartTimeAfter", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{StartTime: &apitype.FilterTime{After: tm(15)}}}, names("task-two")},
		{"StartTimeIsNull", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{StartTime: &apitype.FilterTime{IsNull: ptr(true)}}}, names("orphan")},
		{"EndTimeBefore", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{EndTime: &apitype.FilterTime{Before: tm(12)}}}, names("task-one")},
		{"ExpectedStartTime", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{ExpectedStartTime: &apitype.FilterTime{Before: tm(100)}}}, names()},
		{"SubflowsExist", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{SubflowRuns: &apitype.TaskRunFilterSubflows{Exists: ptr(true)}}}, names("task-one")},
		{"SubflowsNotExist", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{SubflowRuns: &apitype.TaskRunFilterSubflows{Exists: ptr(false)}}}, names("orphan", "task-two")},
		{"FlowRunAny", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{FlowRunID: &apitype.FilterOptionalID{Any: []uuid.UUID{f.alpha.ID}}}}, names("task-one")},
		{"FlowRunIsNull", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{FlowRunID: &apitype.FilterOptionalID{IsNull: ptr(true)}}}, names("orphan")},
		{"FlowRunDefaultNotNull", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{FlowRunID: &apitype.FilterOptionalID{}}}, names("task-one", "task-two")},
		{"FlowRuns", &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Name: &apitype.FilterName{Any: []string{"beta-run"}}}}, names("task-two")},
		{"Flows", &storage.RunQuery{Flows: &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"A"}}}}, names("task-one", "task-two")},
		{"Or", &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{Operator: apitype.OperatorOr,
			Name: &apitype.FilterName{Any: []string{"orphan"}}, State: &apitype.FilterState{Type: &apitype.FilterStateType{Any: []apitype.StateType{"FAILED"}}}}}, names("orphan", "task-two")},
	} {
		t.Run("TaskRun/"+tc.name, func(t *testing.T) {
			var q storage.RunQuery
			if tc.q != nil {
				q = *tc.q
			}
			got, err := s.TaskRunList(ctx, &storage.RunListParams{RunQuery: q})
			require.NoError(t, err)
			require.Equal(t, tc.want, runNames(got, trName))
			n, err := s.TaskRunCount(ctx, tc.q)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
		})
	}

	t.Run("Sorts", func(t *testing.T) {
		order := func(sort string) []string {
			got, err := s.FlowRunList(ctx, &storage.RunListParams{Sort: sort})
			require.NoError(t, err)
			out := make([]string, len(got))
			for i, r := range got {
				out[i] = r.Name
			}
			return out
		}
		require.Equal(t, names("alpha-run", "beta-run", "gamma"), order(apitype.FlowRunSortNameAsc))
		require.Equal(t, names("gamma", "beta-run", "alpha-run"), order(apitype.FlowRunSortNameDesc))
		require.Equal(t, names("alpha-run", "beta-run", "gamma"), order(apitype.FlowRunSortStartTimeAsc))
		require.Equal(t, names("gamma", "beta-run", "alpha-run"), order(apitype.FlowRunSortStartTimeDesc))
		require.Equal(t, names("alpha-run", "beta-run", "gamma"), order(apitype.FlowRunSortExpectedStartTimeAsc))
		require.Equal(t, names("gamma", "beta-run", "alpha-run"), order(apitype.FlowRunSortExpectedStartTimeDesc))
		// NULLs last ascending, first descending, on both engines.
		require.Equal(t, "gamma", order(apitype.FlowRunSortNextScheduledStartTimeAsc)[0])
		require.Equal(t, names("alpha-run", "gamma", "beta-run")[2], order(apitype.FlowRunSortEndTimeDesc)[2])
		byID := order(apitype.FlowRunSortIDDesc)
		require.Len(t, byID, 3)
		page, err := s.FlowRunList(ctx, &storage.RunListParams{Sort: apitype.FlowRunSortNameAsc, Limit: 1, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"beta-run"}, runNames(page, frName))
		trs, err := s.TaskRunList(ctx, &storage.RunListParams{Sort: apitype.TaskRunSortNameDesc})
		require.NoError(t, err)
		require.Equal(t, "task-two", trs[0].Name)
		trs, err = s.TaskRunList(ctx, &storage.RunListParams{Sort: apitype.TaskRunSortEndTimeDesc})
		require.NoError(t, err)
		require.Equal(t, []string{"orphan", "task-two", "task-one"}, []string{trs[0].Name, trs[1].Name, trs[2].Name})
		_, err = s.FlowRunList(ctx, &storage.RunListParams{Sort: "SIDEWAYS"})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
		_, err = s.TaskRunList(ctx, &storage.RunListParams{Sort: apitype.FlowRunSortStartTimeAsc})
		require.ErrorIs(t, err, storage.ErrInvalidFilter, "START_TIME_ASC is not a task run sort")
		_, err = s.FlowRunCount(ctx, &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{Operator: "xor_"}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})

	t.Run("ListCarriesState", func(t *testing.T) {
		got, err := s.FlowRunList(ctx, &storage.RunListParams{Sort: apitype.FlowRunSortNameAsc})
		require.NoError(t, err)
		require.Equal(t, "Running", got[0].State.Name)
		require.Equal(t, "Late", got[2].State.Name)
		require.Equal(t, *got[2].StateID, got[2].State.ID)
	})
}

func testRunHistory(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	rows, err := s.FlowRunHistory(ctx, nil, at(10), at(20))
	require.NoError(t, err)
	require.Len(t, rows, 2, "alpha (10) and beta (19); gamma (40) is outside, the end is exclusive")
	rows, err = s.FlowRunHistory(ctx, &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{ID: &apitype.FilterID{Any: []uuid.UUID{f.beta.ID}}}}, at(0), at(100))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, storage.HistoryRun{ExpectedStartTime: stored(at(19)), StateType: apitype.StateTypeCompleted, StateName: "Completed",
		StateTimestamp: ptr(stored(at(30))), StartTime: ptr(stored(at(20))), TotalRunTime: 1500 * time.Millisecond}, rows[0])
	trRows, err := s.TaskRunHistory(ctx, nil, at(0), at(100))
	require.NoError(t, err)
	require.Empty(t, trRows, "task runs here have no expected start time")
}
