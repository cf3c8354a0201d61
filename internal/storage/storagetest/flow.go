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

func createFlow(t *testing.T, s storage.Store, name string, tags []string, n int) *apitype.Flow {
	t.Helper()
	f, created, err := s.FlowCreate(context.Background(), &storage.FlowCreateParams{
		ID: uuid.New(), Name: name, Tags: tags, Now: at(n),
	})
	require.NoError(t, err)
	require.True(t, created)
	return f
}

func flowNames(fs []apitype.Flow) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

func testFlow(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		labels := map[string]any{"team": "data", "tier": float64(2), "on": true}
		f, created, err := s.FlowCreate(ctx, &storage.FlowCreateParams{
			ID: id, Name: "etl", Tags: []string{"b", "a", "b"}, Labels: labels, Now: at(0),
		})
		require.NoError(t, err)
		require.True(t, created)
		want := &apitype.Flow{ID: id, Created: stored(at(0)), Updated: stored(at(0)), Name: "etl",
			Tags: []string{"b", "a", "b"}, Labels: labels}
		require.Equal(t, want, f)
		require.Equal(t, time.UTC, f.Created.Location())

		got, err := s.FlowGet(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, got)
		got, err = s.FlowGetByName(ctx, "etl")
		require.NoError(t, err)
		require.Equal(t, want, got)
	})

	t.Run("CreateDefaults", func(t *testing.T) {
		s := open(t)
		f, _, err := s.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.New(), Name: "bare", Now: at(0)})
		require.NoError(t, err)
		require.NotNil(t, f.Tags, "tags must be [] not null")
		require.Empty(t, f.Tags)
		require.Nil(t, f.Labels)
	})

	t.Run("CreateExistingName", func(t *testing.T) {
		s := open(t)
		first := createFlow(t, s, "dup", []string{"x"}, 0)
		again, created, err := s.FlowCreate(ctx, &storage.FlowCreateParams{
			ID: uuid.New(), Name: "dup", Tags: []string{"y"}, Now: at(10),
		})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, first, again)
		n, err := s.FlowCount(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.FlowGet(ctx, uuid.New())
		require.ErrorIs(t, err, storage.ErrNotFound)
		_, err = s.FlowGetByName(ctx, "nope")
		require.ErrorIs(t, err, storage.ErrNotFound)
		require.ErrorIs(t, s.FlowUpdate(ctx, uuid.New(), &apitype.FlowUpdate{Tags: &[]string{"a"}}, at(1)), storage.ErrNotFound)
		require.ErrorIs(t, s.FlowDelete(ctx, uuid.New()), storage.ErrNotFound)
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		f := createFlow(t, s, "u", []string{"old"}, 0)
		require.NoError(t, s.FlowUpdate(ctx, f.ID, &apitype.FlowUpdate{Tags: &[]string{"new", "er"}}, at(5)))
		got, err := s.FlowGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"new", "er"}, got.Tags)
		require.Equal(t, stored(at(0)), got.Created)
		require.Equal(t, stored(at(5)), got.Updated)

		// Nil tags leaves them alone but still touches updated.
		require.NoError(t, s.FlowUpdate(ctx, f.ID, &apitype.FlowUpdate{}, at(6)))
		got, err = s.FlowGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"new", "er"}, got.Tags)
		require.Equal(t, stored(at(6)), got.Updated)

		require.NoError(t, s.FlowUpdate(ctx, f.ID, &apitype.FlowUpdate{Tags: &[]string{}}, at(7)))
		got, err = s.FlowGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, []string{}, got.Tags)
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		f := createFlow(t, s, "gone", nil, 0)
		keep := createFlow(t, s, "kept", nil, 0)
		require.NoError(t, s.FlowDelete(ctx, f.ID))
		_, err := s.FlowGet(ctx, f.ID)
		require.ErrorIs(t, err, storage.ErrNotFound)
		require.ErrorIs(t, s.FlowDelete(ctx, f.ID), storage.ErrNotFound)
		_, err = s.FlowGet(ctx, keep.ID)
		require.NoError(t, err)
	})

	t.Run("DeleteMany", func(t *testing.T) {
		s := open(t)
		var tagged []uuid.UUID
		// Created out of name order: the limit takes the first by name.
		for i, name := range []string{"t3", "t1", "t2"} {
			tagged = append(tagged, createFlow(t, s, name, []string{"doomed"}, i).ID)
		}
		keep := createFlow(t, s, "keep", []string{"safe"}, 9)
		filter := &apitype.FlowFilter{Tags: &apitype.FilterTags{All: []string{"doomed"}}}

		deleted, err := s.FlowDeleteMany(ctx, filter, 2)
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{tagged[1], tagged[2]}, deleted, "t1 and t2 go first (NAME_ASC)")
		n, err := s.FlowCount(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)

		deleted2, err := s.FlowDeleteMany(ctx, filter, 0)
		require.NoError(t, err)
		require.Len(t, deleted2, 1)
		require.ElementsMatch(t, tagged, append(deleted, deleted2...))

		none, err := s.FlowDeleteMany(ctx, filter, 10)
		require.NoError(t, err)
		require.Empty(t, none)
		_, err = s.FlowGet(ctx, keep.ID)
		require.NoError(t, err)
	})
}

func testFlowSort(t *testing.T, s storage.Store) {
	ctx := context.Background()
	// created order: b(0) a(1) c(2); then a is updated last.
	b := createFlow(t, s, "b", nil, 0)
	a := createFlow(t, s, "a", nil, 1)
	c := createFlow(t, s, "c", nil, 2)
	require.NoError(t, s.FlowUpdate(ctx, a.ID, &apitype.FlowUpdate{}, at(10)))
	_ = b
	_ = c

	for _, tc := range []struct {
		sort string
		want []string
	}{
		{"", []string{"a", "b", "c"}},
		{apitype.FlowSortNameAsc, []string{"a", "b", "c"}},
		{apitype.FlowSortNameDesc, []string{"c", "b", "a"}},
		{apitype.FlowSortCreatedDesc, []string{"c", "a", "b"}},
		{apitype.FlowSortUpdatedDesc, []string{"a", "c", "b"}},
	} {
		got, err := s.FlowList(ctx, &storage.FlowListParams{Sort: tc.sort})
		require.NoError(t, err, tc.sort)
		require.Equal(t, tc.want, flowNames(got), tc.sort)
	}

	t.Run("LimitOffset", func(t *testing.T) {
		got, err := s.FlowList(ctx, &storage.FlowListParams{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b"}, flowNames(got))
		got, err = s.FlowList(ctx, &storage.FlowListParams{Limit: 2, Offset: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"c"}, flowNames(got))
		got, err = s.FlowList(ctx, &storage.FlowListParams{Offset: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"b", "c"}, flowNames(got))
		got, err = s.FlowList(ctx, &storage.FlowListParams{Limit: 5, Offset: 10})
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Empty(t, got)
	})

	t.Run("TieBreakByID", func(t *testing.T) {
		// Same created time: CREATED_DESC falls back to id descending.
		x := createFlow(t, s, "tie-x", nil, 100)
		y := createFlow(t, s, "tie-y", nil, 100)
		got, err := s.FlowList(ctx, &storage.FlowListParams{Sort: apitype.FlowSortCreatedDesc, Limit: 2})
		require.NoError(t, err)
		want := []uuid.UUID{x.ID, y.ID}
		if x.ID.String() < y.ID.String() {
			want = []uuid.UUID{y.ID, x.ID}
		}
		require.Equal(t, want, ids(got, func(f apitype.Flow) uuid.UUID { return f.ID }))
	})

	t.Run("InvalidSort", func(t *testing.T) {
		_, err := s.FlowList(ctx, &storage.FlowListParams{Sort: "ID; DROP TABLE flow"})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})
}
