package storagetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testFlowFilter(t *testing.T, s storage.Store) {
	ctx := context.Background()
	alpha := createFlow(t, s, "alpha", []string{"a", "b"}, 0)
	beta := createFlow(t, s, "Beta", []string{"b"}, 1)
	gamma := createFlow(t, s, "gam_ma", []string{}, 2)
	delta := createFlow(t, s, "del%ta", []string{"a"}, 3)
	eps := createFlow(t, s, "epsilon", nil, 4)
	_ = eps
	all := []string{"Beta", "alpha", "del%ta", "epsilon", "gam_ma"} // NAME_ASC, byte order

	for _, tc := range []struct {
		name   string
		filter *apitype.FlowFilter
		want   []string
	}{
		{"Nil", nil, all},
		{"Empty", &apitype.FlowFilter{}, all},
		{"IDAny", &apitype.FlowFilter{ID: &apitype.FilterID{Any: []uuid.UUID{alpha.ID, gamma.ID, uuid.New()}}},
			[]string{"alpha", "gam_ma"}},
		{"IDAnyEmptyMatchesNone", &apitype.FlowFilter{ID: &apitype.FilterID{Any: []uuid.UUID{}}}, []string{}},
		{"IDNotAny", &apitype.FlowFilter{ID: &apitype.FilterID{NotAny: []uuid.UUID{alpha.ID, beta.ID}}},
			[]string{"del%ta", "epsilon", "gam_ma"}},
		{"IDAnyAndNotAny", &apitype.FlowFilter{ID: &apitype.FilterID{Any: []uuid.UUID{alpha.ID, beta.ID}, NotAny: []uuid.UUID{beta.ID}}},
			[]string{"alpha"}},
		{"NameAny", &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"alpha", "del%ta", "ALPHA"}}},
			[]string{"alpha", "del%ta"}},
		{"NameLikeCaseInsensitive", &apitype.FlowFilter{Name: &apitype.FilterName{Like: ptr("ETA")}},
			[]string{"Beta"}},
		// like_ keeps SQL's wildcards, as Prefect's ilike(f"%{like_}%") does.
		{"NameLikeUnderscoreMatchesItself", &apitype.FlowFilter{Name: &apitype.FilterName{Like: ptr("m_m")}},
			[]string{"gam_ma"}},
		{"NameLikeUnderscoreIsAWildcard", &apitype.FlowFilter{Name: &apitype.FilterName{Like: ptr("a_")}},
			[]string{"alpha", "gam_ma"}},
		{"NameLikePercentIsAWildcard", &apitype.FlowFilter{Name: &apitype.FilterName{Like: ptr("%")}}, all},
		{"NameLikeBackslashEscapes", &apitype.FlowFilter{Name: &apitype.FilterName{Like: ptr(`\%`)}}, []string{"del%ta"}},
		{"NameLikeEmptyIgnored", &apitype.FlowFilter{Name: &apitype.FilterName{Like: ptr("")}}, all},
		{"NameAnyAndLike", &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"alpha", "Beta"}, Like: ptr("lp")}},
			[]string{"alpha"}},
		{"TagsAllOne", &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"a"}}},
			[]string{"alpha", "del%ta"}},
		{"TagsAllTwo", &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"b", "a"}}},
			[]string{"alpha"}},
		{"TagsAllMissing", &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"a", "zzz"}}}, []string{}},
		{"TagsIsNullTrue", &apitype.FlowFilter{Tags: &apitype.FilterTags{IsNull: ptr(true)}},
			[]string{"epsilon", "gam_ma"}},
		{"TagsIsNullFalse", &apitype.FlowFilter{Tags: &apitype.FilterTags{IsNull: ptr(false)}},
			[]string{"Beta", "alpha", "del%ta"}},
		{"TagsOr", &apitype.FlowFilter{Tags: &apitype.FilterTags{Operator: apitype.OperatorOr, All: []string{"a", "b"}, IsNull: ptr(true)}},
			[]string{"alpha", "epsilon", "gam_ma"}},
		{"TagsAnd", &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"b"}, IsNull: ptr(false)}},
			[]string{"Beta", "alpha"}},
		{"DeploymentIsNullTrue", &apitype.FlowFilter{Deployment: &apitype.FlowFilterDeployment{IsNull: ptr(true)}}, all},
		{"DeploymentIsNullFalse", &apitype.FlowFilter{Deployment: &apitype.FlowFilterDeployment{IsNull: ptr(false)}}, []string{}},
		{"TopAnd", &apitype.FlowFilter{
			Name: &apitype.FilterName{Like: ptr("a")},
			Tags: &apitype.FilterTags{All: []string{"a"}},
		}, []string{"alpha", "del%ta"}},
		{"TopOr", &apitype.FlowFilter{
			Operator: apitype.OperatorOr,
			ID:       &apitype.FilterID{Any: []uuid.UUID{delta.ID}},
			Name:     &apitype.FilterName{Any: []string{"epsilon"}},
			Tags:     &apitype.FilterTags{All: []string{"b"}},
		}, []string{"Beta", "alpha", "del%ta", "epsilon"}},
		{"TopOrWithEmptyCriterionMatchesAll", &apitype.FlowFilter{
			Operator: apitype.OperatorOr,
			Name:     &apitype.FilterName{},
			ID:       &apitype.FilterID{Any: []uuid.UUID{}},
		}, all},
		{"TopAndWithEmptyCriterion", &apitype.FlowFilter{
			Name: &apitype.FilterName{},
			ID:   &apitype.FilterID{Any: []uuid.UUID{beta.ID}},
		}, []string{"Beta"}},
		{"InjectionAttemptIsAValue", &apitype.FlowFilter{Name: &apitype.FilterName{Any: []string{"x' OR '1'='1"}, Like: ptr("' OR 1=1 --")}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FlowList(ctx, &storage.FlowListParams{FlowQuery: storage.FlowQuery{Flows: tc.filter}, Sort: apitype.FlowSortNameAsc})
			require.NoError(t, err)
			require.Equal(t, tc.want, flowNames(got))
			n, err := s.FlowCount(ctx, &storage.FlowQuery{Flows: tc.filter})
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
		})
	}

	t.Run("InvalidOperator", func(t *testing.T) {
		_, err := s.FlowList(ctx, &storage.FlowListParams{FlowQuery: storage.FlowQuery{Flows: &apitype.FlowFilter{Operator: "xor_"}}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
		_, err = s.FlowCount(ctx, &storage.FlowQuery{Flows: &apitype.FlowFilter{Tags: &apitype.FilterTags{Operator: "nand_"}}})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})
}

func testVariableFilter(t *testing.T, s storage.Store) {
	ctx := context.Background()
	one := createVariable(t, s, "one", `1`, []string{"x", "y"}, 0)
	createVariable(t, s, "Two_2", `"two"`, []string{"y"}, 1)
	three := createVariable(t, s, "three", `{"n":3}`, nil, 2)
	all := []string{"Two_2", "one", "three"}

	for _, tc := range []struct {
		name   string
		filter *apitype.VariableFilter
		want   []string
	}{
		{"Nil", nil, all},
		{"IDAny", &apitype.VariableFilter{ID: &apitype.VariableFilterID{Any: []uuid.UUID{one.ID, three.ID}}}, []string{"one", "three"}},
		{"IDAnyEmpty", &apitype.VariableFilter{ID: &apitype.VariableFilterID{Any: []uuid.UUID{}}}, []string{}},
		{"NameAny", &apitype.VariableFilter{Name: &apitype.FilterName{Any: []string{"three", "four"}}}, []string{"three"}},
		{"NameLike", &apitype.VariableFilter{Name: &apitype.FilterName{Like: ptr("O_")}}, []string{"Two_2", "one"}},
		{"NameLikeCase", &apitype.VariableFilter{Name: &apitype.FilterName{Like: ptr("TWO")}}, []string{"Two_2"}},
		{"TagsAll", &apitype.VariableFilter{Tags: &apitype.FilterTags{All: []string{"y"}}}, []string{"Two_2", "one"}},
		{"TagsAllBoth", &apitype.VariableFilter{Tags: &apitype.FilterTags{All: []string{"y", "x"}}}, []string{"one"}},
		{"TagsIsNull", &apitype.VariableFilter{Tags: &apitype.FilterTags{IsNull: ptr(true)}}, []string{"three"}},
		{"TagsNotNull", &apitype.VariableFilter{Tags: &apitype.FilterTags{IsNull: ptr(false)}}, []string{"Two_2", "one"}},
		{"Or", &apitype.VariableFilter{
			Operator: apitype.OperatorOr,
			Name:     &apitype.FilterName{Any: []string{"three"}},
			Tags:     &apitype.FilterTags{All: []string{"x"}},
		}, []string{"one", "three"}},
		{"And", &apitype.VariableFilter{
			Name: &apitype.FilterName{Like: ptr("o")},
			Tags: &apitype.FilterTags{All: []string{"x"}},
		}, []string{"one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.VariableList(ctx, &storage.VariableListParams{Filter: tc.filter})
			require.NoError(t, err)
			require.Equal(t, tc.want, variableNames(got))
			n, err := s.VariableCount(ctx, tc.filter)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
		})
	}
}
