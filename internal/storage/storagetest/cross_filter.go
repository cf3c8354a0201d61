package storagetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// testCrossFilters covers the flow and artifact reads filtered by their
// flow runs, task runs and flows (Prefect's EXISTS subqueries).
func testCrossFilters(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Flows", func(t *testing.T) { testFlowCrossFilters(t, open(t)) })
	t.Run("Artifacts", func(t *testing.T) { testArtifactCrossFilters(t, open(t)) })
}

func testFlowCrossFilters(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	createFlow(t, s, "C", nil, 0) // no runs at all
	runName := func(n string) *apitype.FlowRunFilter {
		return &apitype.FlowRunFilter{Name: &apitype.FilterName{Any: []string{n}}}
	}
	taskName := func(n string) *apitype.TaskRunFilter {
		return &apitype.TaskRunFilter{Name: &apitype.FilterName{Any: []string{n}}}
	}
	for _, tc := range []struct {
		name string
		q    *storage.FlowQuery
		want []string
	}{
		{"Nil", nil, []string{"A", "B", "C"}},
		{"Empty", &storage.FlowQuery{}, []string{"A", "B", "C"}},
		// A set filter without criteria still needs a run, as in Prefect.
		{"FlowRunsEmptyNeedsARun", &storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{}}, []string{"A", "B"}},
		{"FlowRunsOnlyOperator", &storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{Operator: apitype.OperatorOr}}, []string{"A", "B"}},
		{"FlowRunsName", &storage.FlowQuery{FlowRuns: runName("gamma")}, []string{"B"}},
		{"FlowRunsState", &storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{State: &apitype.FilterState{
			Type: &apitype.FilterStateType{Any: []apitype.StateType{apitype.StateTypeCompleted, apitype.StateTypeScheduled}}}}}, []string{"A", "B"}},
		{"FlowRunsIDAnyEmpty", &storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{ID: &apitype.FilterID{Any: []uuid.UUID{}}}}, []string{}},
		{"FlowRunsParentFlowRun", &storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{
			ParentFlowRunID: &apitype.FilterOptionalID{Any: []uuid.UUID{f.alpha.ID}}}}, []string{"B"}},
		{"TaskRunsEmptyNeedsATaskRun", &storage.FlowQuery{TaskRuns: &apitype.TaskRunFilter{}}, []string{"A"}},
		{"TaskRunsState", &storage.FlowQuery{TaskRuns: &apitype.TaskRunFilter{State: &apitype.FilterState{
			Type: &apitype.FilterStateType{Any: []apitype.StateType{apitype.StateTypeFailed}}}}}, []string{"A"}},
		{"TaskRunsNoMatch", &storage.FlowQuery{TaskRuns: taskName("orphan")}, []string{}},
		// Both run filters must hold for the same flow run: alpha has
		// task-one, beta has task-two.
		{"RunsAndTasksSameRun", &storage.FlowQuery{FlowRuns: runName("alpha-run"), TaskRuns: taskName("task-one")}, []string{"A"}},
		{"RunsAndTasksDifferentRuns", &storage.FlowQuery{FlowRuns: runName("beta-run"), TaskRuns: taskName("task-one")}, []string{}},
		{"FlowsAndRuns", &storage.FlowQuery{Flows: &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"prod"}}},
			FlowRuns: &apitype.FlowRunFilter{}}, []string{"A"}},
		{"FlowsOrStaysInsideFlows", &storage.FlowQuery{Flows: &apitype.FlowFilter{Operator: apitype.OperatorOr,
			Name: &apitype.FilterName{Any: []string{"B"}}, Tags: &apitype.FilterTags{All: []string{"prod"}}},
			FlowRuns: runName("gamma")}, []string{"B"}},
		{"FlowsWithoutRuns", &storage.FlowQuery{Flows: &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"C"}}},
			FlowRuns: &apitype.FlowRunFilter{}}, []string{}},
		{"InjectionAttemptIsAValue", &storage.FlowQuery{FlowRuns: runName("x' OR '1'='1"), TaskRuns: taskName("' OR 1=1 --")}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &storage.FlowListParams{Sort: apitype.FlowSortNameAsc}
			if tc.q != nil {
				p.FlowQuery = *tc.q
			}
			got, err := s.FlowList(ctx, p)
			require.NoError(t, err)
			require.Equal(t, tc.want, flowNames(got))
			n, err := s.FlowCount(ctx, tc.q)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
		})
	}

	t.Run("Page", func(t *testing.T) {
		got, err := s.FlowList(ctx, &storage.FlowListParams{FlowQuery: storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{}},
			Sort: apitype.FlowSortNameDesc, Limit: 1, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"A"}, flowNames(got))
	})
	t.Run("InvalidOperator", func(t *testing.T) {
		_, err := s.FlowCount(ctx, &storage.FlowQuery{FlowRuns: &apitype.FlowRunFilter{Operator: "xor_"}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
		_, err = s.FlowList(ctx, &storage.FlowListParams{FlowQuery: storage.FlowQuery{TaskRuns: &apitype.TaskRunFilter{Operator: "nand_"}}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})
}

// createRunArtifact stores a keyed artifact of the given runs created at(n).
func createRunArtifact(t *testing.T, s storage.Store, key string, n int, flowRun, taskRun *uuid.UUID) {
	t.Helper()
	_, err := s.ArtifactCreate(context.Background(), &storage.ArtifactCreateParams{
		Artifact: apitype.Artifact{ID: uuid.New(), Created: at(n), Updated: at(n), Key: ptr(key),
			FlowRunID: flowRun, TaskRunID: taskRun},
		CollectionID: uuid.New(),
	})
	require.NoError(t, err)
}

func testArtifactCrossFilters(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newRunFixture(t, s)
	dangling := uuid.New() // a flow run id with no flow run behind it
	createRunArtifact(t, s, "on-alpha", 1, &f.alpha.ID, nil)
	createRunArtifact(t, s, "on-gamma", 2, &f.gamma.ID, nil)
	createRunArtifact(t, s, "on-one", 3, &f.alpha.ID, &f.one.ID)
	createRunArtifact(t, s, "on-orphan", 4, nil, &f.orphan.ID)
	createRunArtifact(t, s, "dangling", 5, &dangling, nil)
	createRunArtifact(t, s, "free", 6, nil, nil)
	// The latest "on-gamma" has no run: its collection row no longer has one.
	createRunArtifact(t, s, "on-gamma", 7, nil, nil)

	flowTags := func(tag string) *apitype.FlowFilter {
		return &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{tag}}}
	}
	runName := func(n string) *apitype.FlowRunFilter {
		return &apitype.FlowRunFilter{Name: &apitype.FilterName{Any: []string{n}}}
	}
	for _, tc := range []struct {
		name        string
		filter      *apitype.ArtifactFilter
		runs        *storage.RunQuery
		want, wantC []string // artifacts (by key, KEY_ASC), collections
	}{
		{"Nil", nil, nil,
			[]string{"dangling", "free", "on-alpha", "on-gamma", "on-gamma", "on-one", "on-orphan"},
			[]string{"dangling", "free", "on-alpha", "on-gamma", "on-one", "on-orphan"}},
		{"FlowRunsEmptyNeedsARun", nil, &storage.RunQuery{FlowRuns: &apitype.FlowRunFilter{}},
			[]string{"on-alpha", "on-gamma", "on-one"}, []string{"on-alpha", "on-one"}},
		{"FlowRunsName", nil, &storage.RunQuery{FlowRuns: runName("alpha-run")},
			[]string{"on-alpha", "on-one"}, []string{"on-alpha", "on-one"}},
		{"FlowsEmptyNeedsARun", nil, &storage.RunQuery{Flows: &apitype.FlowFilter{}},
			[]string{"on-alpha", "on-gamma", "on-one"}, []string{"on-alpha", "on-one"}},
		{"FlowsTags", nil, &storage.RunQuery{Flows: flowTags("prod")},
			[]string{"on-alpha", "on-one"}, []string{"on-alpha", "on-one"}},
		{"FlowsName", nil, &storage.RunQuery{Flows: &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"B"}}}},
			[]string{"on-gamma"}, []string{}},
		// Flows and FlowRuns constrain the same flow run.
		{"FlowsAndFlowRunsSameRun", nil, &storage.RunQuery{Flows: flowTags("prod"), FlowRuns: runName("beta-run")},
			[]string{}, []string{}},
		{"TaskRunsEmptyNeedsATaskRun", nil, &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{}},
			[]string{"on-one", "on-orphan"}, []string{"on-one", "on-orphan"}},
		{"TaskRunsState", nil, &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{State: &apitype.FilterState{
			Type: &apitype.FilterStateType{Any: []apitype.StateType{apitype.StateTypeCompleted}}}}},
			[]string{"on-one"}, []string{"on-one"}},
		{"TaskRunsAndFlowRuns", nil, &storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{}, FlowRuns: runName("alpha-run")},
			[]string{"on-one"}, []string{"on-one"}},
		{"ArtifactFilterAndRuns", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Any: []string{"on-alpha", "on-gamma"}}},
			&storage.RunQuery{Flows: flowTags("prod")}, []string{"on-alpha"}, []string{"on-alpha"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &storage.ArtifactListParams{Filter: tc.filter, Sort: apitype.ArtifactSortKeyAsc}
			cp := &storage.ArtifactCollectionListParams{Sort: apitype.ArtifactSortKeyAsc}
			if tc.filter != nil {
				cp.Filter = &apitype.ArtifactCollectionFilter{Key: tc.filter.Key}
			}
			if tc.runs != nil {
				p.Runs, cp.Runs = *tc.runs, *tc.runs
			}
			got, err := s.ArtifactList(ctx, p)
			require.NoError(t, err)
			keys := []string{}
			for _, a := range got {
				keys = append(keys, *a.Key)
			}
			require.Equal(t, tc.want, keys)
			n, err := s.ArtifactCount(ctx, p.Filter, tc.runs)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)

			cols, err := s.ArtifactCollectionList(ctx, cp)
			require.NoError(t, err)
			keys = []string{}
			for _, c := range cols {
				keys = append(keys, c.Key)
			}
			require.Equal(t, tc.wantC, keys)
			n, err = s.ArtifactCollectionCount(ctx, cp.Filter, tc.runs)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.wantC), n)
		})
	}
	t.Run("InvalidOperator", func(t *testing.T) {
		_, err := s.ArtifactCount(ctx, nil, &storage.RunQuery{Flows: &apitype.FlowFilter{Operator: "xor_"}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
		_, err = s.ArtifactCollectionList(ctx, &storage.ArtifactCollectionListParams{
			Runs: storage.RunQuery{TaskRuns: &apitype.TaskRunFilter{Operator: "nand_"}}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})
}
