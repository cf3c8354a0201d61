package storagetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// createArtifact stores a (possibly keyed) artifact created at(n).
func createArtifact(t *testing.T, s storage.Store, key, typ string, n int, data string) *apitype.Artifact {
	t.Helper()
	a := apitype.Artifact{ID: uuid.New(), Created: at(n), Updated: at(n), Data: json.RawMessage(data)}
	if key != "" {
		a.Key = ptr(key)
	}
	if typ != "" {
		a.Type = ptr(typ)
	}
	got, err := s.ArtifactCreate(context.Background(), &storage.ArtifactCreateParams{Artifact: a, CollectionID: uuid.New()})
	require.NoError(t, err)
	return got
}

// requireLatest asserts the collection row of key mirrors artifact a.
func requireLatest(t *testing.T, s storage.Store, key string, a *apitype.Artifact) *apitype.ArtifactCollection {
	t.Helper()
	c, err := s.ArtifactCollectionGetByKey(context.Background(), key)
	require.NoError(t, err)
	require.Equal(t, key, c.Key)
	require.Equal(t, a.ID, c.LatestID)
	require.Equal(t, a.Type, c.Type)
	require.Equal(t, a.Description, c.Description)
	require.JSONEq(t, string(a.Data), string(c.Data))
	require.Equal(t, a.Metadata, c.Metadata)
	require.Equal(t, a.FlowRunID, c.FlowRunID)
	require.Equal(t, a.TaskRunID, c.TaskRunID)
	return c
}

func testArtifact(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()
	t.Run("Filter", func(t *testing.T) { testArtifactFilter(t, open(t)) })

	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		fr, tr := uuid.New(), uuid.New()
		in := apitype.Artifact{ID: uuid.New(), Created: at(0), Updated: at(0), Key: ptr("report"), Type: ptr("markdown"),
			Description: ptr("# Title"), Data: json.RawMessage(`{"b": 1,  "a": [1, 2.50, "ünï"]}`),
			Metadata: map[string]string{"k": "v"}, FlowRunID: &fr, TaskRunID: &tr}
		got, err := s.ArtifactCreate(ctx, &storage.ArtifactCreateParams{Artifact: in, CollectionID: uuid.New()})
		require.NoError(t, err)
		want := in
		want.Created, want.Updated = stored(at(0)), stored(at(0))
		require.Equal(t, &want, got)
		read, err := s.ArtifactGet(ctx, in.ID)
		require.NoError(t, err)
		require.Equal(t, &want, read)
		require.Equal(t, `{"b": 1,  "a": [1, 2.50, "ünï"]}`, string(read.Data), "data keeps its exact text")

		bare := createArtifact(t, s, "", "", 1, "")
		require.Equal(t, "null", string(bare.Data))
		require.Nil(t, bare.Key)
		require.Nil(t, bare.Metadata)
		require.Nil(t, bare.FlowRunID)
		for _, data := range []string{`"text"`, `42`, `[1,{"x":null}]`, `true`} {
			a := createArtifact(t, s, "", "", 2, data)
			require.Equal(t, data, string(a.Data))
		}
		_, err = s.ArtifactGet(ctx, uuid.New())
		require.ErrorIs(t, err, storage.ErrNotFound)
		_, err = s.ArtifactCollectionGetByKey(ctx, "missing")
		require.ErrorIs(t, err, storage.ErrNotFound)
		n, err := s.ArtifactCollectionCount(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "only keyed artifacts have a collection row")
	})

	t.Run("CollectionFollowsCreates", func(t *testing.T) {
		s := open(t)
		a1 := createArtifact(t, s, "k", "table", 0, `{"v":1}`)
		c1 := requireLatest(t, s, "k", a1)
		require.Equal(t, stored(at(0)), c1.Created)
		a2 := createArtifact(t, s, "k", "markdown", 5, `{"v":2}`)
		c2 := requireLatest(t, s, "k", a2)
		require.Equal(t, c1.ID, c2.ID, "the collection row is updated in place")
		require.Equal(t, stored(at(0)), c2.Created, "created is kept")
		require.Equal(t, stored(at(5)), c2.Updated)
		other := createArtifact(t, s, "other", "", 6, `1`)
		requireLatest(t, s, "other", other)
		requireLatest(t, s, "k", a2)
	})

	t.Run("CreateIsAtomic", func(t *testing.T) {
		s := open(t)
		a := createArtifact(t, s, "k", "", 0, `1`)
		// Reusing an id fails the artifact insert after the collection upsert:
		// the upsert must roll back with it.
		_, err := s.ArtifactCreate(ctx, &storage.ArtifactCreateParams{
			Artifact:     apitype.Artifact{ID: a.ID, Created: at(1), Updated: at(1), Key: ptr("fresh")},
			CollectionID: uuid.New(),
		})
		require.ErrorIs(t, err, storage.ErrConflict)
		_, err = s.ArtifactCollectionGetByKey(ctx, "fresh")
		require.ErrorIs(t, err, storage.ErrNotFound)
		_, err = s.ArtifactCreate(ctx, &storage.ArtifactCreateParams{
			Artifact:     apitype.Artifact{ID: a.ID, Created: at(1), Updated: at(1), Key: ptr("k")},
			CollectionID: uuid.New(),
		})
		require.ErrorIs(t, err, storage.ErrConflict)
		requireLatest(t, s, "k", a)
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		old := createArtifact(t, s, "k", "t", 0, `{"v":1}`)
		latest := createArtifact(t, s, "k", "t", 1, `{"v":2}`)

		require.NoError(t, s.ArtifactUpdate(ctx, latest.ID, &storage.ArtifactUpdateParams{
			Data: json.RawMessage(`{"v":3}`), SetDescription: true, Description: ptr("d"),
			SetMetadata: true, Metadata: map[string]string{"m": "1"}, Now: at(9),
		}))
		got, err := s.ArtifactGet(ctx, latest.ID)
		require.NoError(t, err)
		require.JSONEq(t, `{"v":3}`, string(got.Data))
		require.Equal(t, ptr("d"), got.Description)
		require.Equal(t, map[string]string{"m": "1"}, got.Metadata)
		require.Equal(t, stored(at(1)), got.Created)
		require.Equal(t, stored(at(9)), got.Updated)
		c := requireLatest(t, s, "k", got)
		require.Equal(t, stored(at(9)), c.Updated)

		// Only the fields sent change; explicit nulls clear.
		require.NoError(t, s.ArtifactUpdate(ctx, latest.ID, &storage.ArtifactUpdateParams{SetDescription: true, Now: at(10)}))
		got, err = s.ArtifactGet(ctx, latest.ID)
		require.NoError(t, err)
		require.Nil(t, got.Description)
		require.JSONEq(t, `{"v":3}`, string(got.Data))
		require.Equal(t, map[string]string{"m": "1"}, got.Metadata)
		require.NoError(t, s.ArtifactUpdate(ctx, latest.ID, &storage.ArtifactUpdateParams{
			Data: json.RawMessage(`null`), SetMetadata: true, Now: at(11)}))
		got, err = s.ArtifactGet(ctx, latest.ID)
		require.NoError(t, err)
		require.Equal(t, "null", string(got.Data))
		require.Nil(t, got.Metadata)
		requireLatest(t, s, "k", got)

		// Updating an older version leaves the collection alone.
		require.NoError(t, s.ArtifactUpdate(ctx, old.ID, &storage.ArtifactUpdateParams{SetDescription: true, Description: ptr("old"), Now: at(12)}))
		requireLatest(t, s, "k", got)
		o, err := s.ArtifactGet(ctx, old.ID)
		require.NoError(t, err)
		require.Equal(t, ptr("old"), o.Description)

		require.ErrorIs(t, s.ArtifactUpdate(ctx, uuid.New(), &storage.ArtifactUpdateParams{Now: at(13)}), storage.ErrNotFound)
	})

	t.Run("DeleteMovesCollectionToPrevious", func(t *testing.T) {
		s := open(t)
		a1 := createArtifact(t, s, "k", "v1", 0, `1`)
		a2 := createArtifact(t, s, "k", "v2", 2, `2`)
		a3 := createArtifact(t, s, "k", "v3", 4, `3`)
		keep := createArtifact(t, s, "other", "", 5, `0`)
		col := requireLatest(t, s, "k", a3)

		// Deleting an older version changes nothing in the collection.
		require.NoError(t, s.ArtifactDelete(ctx, a1.ID))
		requireLatest(t, s, "k", a3)

		// Deleting the latest hands the row to the previous version, taking
		// its created and updated too.
		require.NoError(t, s.ArtifactDelete(ctx, a3.ID))
		c := requireLatest(t, s, "k", a2)
		require.Equal(t, col.ID, c.ID)
		require.Equal(t, stored(at(2)), c.Created)
		require.Equal(t, stored(at(2)), c.Updated)

		// Deleting the last version removes the row.
		require.NoError(t, s.ArtifactDelete(ctx, a2.ID))
		_, err := s.ArtifactCollectionGetByKey(ctx, "k")
		require.ErrorIs(t, err, storage.ErrNotFound)
		requireLatest(t, s, "other", keep)

		require.ErrorIs(t, s.ArtifactDelete(ctx, a2.ID), storage.ErrNotFound)
		unkeyed := createArtifact(t, s, "", "", 6, `1`)
		require.NoError(t, s.ArtifactDelete(ctx, unkeyed.ID))
		n, err := s.ArtifactCount(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})

	t.Run("DeleteLatestPicksNewestByCreated", func(t *testing.T) {
		s := open(t)
		newer := createArtifact(t, s, "k", "newer", 5, `1`)
		older := createArtifact(t, s, "k", "older", 1, `2`) // inserted last: the latest
		createArtifact(t, s, "k", "oldest", 0, `3`)
		latest := createArtifact(t, s, "k", "last", 3, `4`)
		requireLatest(t, s, "k", latest)
		require.NoError(t, s.ArtifactDelete(ctx, latest.ID))
		requireLatest(t, s, "k", newer)
		_ = older
	})
}

func testArtifactFilter(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fr1, fr2, tr1 := uuid.New(), uuid.New(), uuid.New()
	mk := func(key, typ string, n int, fr, tr *uuid.UUID) *apitype.Artifact {
		a := apitype.Artifact{ID: uuid.New(), Created: at(n), Updated: at(n), Data: json.RawMessage(`{}`), FlowRunID: fr, TaskRunID: tr}
		if key != "" {
			a.Key = ptr(key)
		}
		if typ != "" {
			a.Type = ptr(typ)
		}
		got, err := s.ArtifactCreate(ctx, &storage.ArtifactCreateParams{Artifact: a, CollectionID: uuid.New()})
		require.NoError(t, err)
		return got
	}
	// Descriptions name the rows in assertions.
	rows := map[uuid.UUID]string{}
	add := func(name string, a *apitype.Artifact) *apitype.Artifact {
		rows[a.ID] = name
		return a
	}
	a := add("a", mk("sales-report", "table", 0, &fr1, &tr1))
	b := add("b", mk("sales-report", "markdown", 1, &fr1, nil))
	c := add("c", mk("my_key", "table", 2, &fr2, nil))
	d := add("d", mk("", "result", 3, &fr2, &tr1))
	e := add("e", mk("", "", 4, nil, nil))
	f := add("f", mk("Zeta", "progress", 5, nil, nil))
	_ = e
	names := func(list []apitype.Artifact) []string {
		out := make([]string, len(list))
		for i, x := range list {
			out[i] = rows[x.ID]
		}
		return out
	}
	list := func(filter *apitype.ArtifactFilter, sort string) []string {
		t.Helper()
		got, err := s.ArtifactList(ctx, &storage.ArtifactListParams{Filter: filter, Sort: sort})
		require.NoError(t, err)
		n, err := s.ArtifactCount(ctx, filter, nil)
		require.NoError(t, err)
		require.EqualValues(t, len(got), n, "count agrees with the list")
		return names(got)
	}
	byCreated := apitype.ArtifactSortCreatedDesc
	all := []string{"f", "e", "d", "c", "b", "a"}

	for _, tc := range []struct {
		name   string
		filter *apitype.ArtifactFilter
		want   []string
	}{
		{"Nil", nil, all},
		{"IDAny", &apitype.ArtifactFilter{ID: &apitype.ArtifactFilterID{Any: []uuid.UUID{a.ID, d.ID, uuid.New()}}}, []string{"d", "a"}},
		{"IDAnyEmpty", &apitype.ArtifactFilter{ID: &apitype.ArtifactFilterID{Any: []uuid.UUID{}}}, []string{}},
		{"KeyAny", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Any: []string{"my_key", "Zeta"}}}, []string{"f", "c"}},
		{"KeyLikeCaseInsensitive", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Like: ptr("REPORT")}}, []string{"b", "a"}},
		{"KeyLikeUnderscoreIsWildcard", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Like: ptr("s_les")}}, []string{"b", "a"}},
		{"KeyLikePercentIsWildcard", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Like: ptr("my%y")}}, []string{"c"}},
		{"KeyExists", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Exists: ptr(true)}}, []string{"f", "c", "b", "a"}},
		{"KeyNotExists", &apitype.ArtifactFilter{Key: &apitype.ArtifactFilterKey{Exists: ptr(false)}}, []string{"e", "d"}},
		{"FlowRunAny", &apitype.ArtifactFilter{FlowRunID: &apitype.ArtifactFilterFlowRunID{Any: []uuid.UUID{fr2}}}, []string{"d", "c"}},
		{"TaskRunAny", &apitype.ArtifactFilter{TaskRunID: &apitype.ArtifactFilterTaskRunID{Any: []uuid.UUID{tr1}}}, []string{"d", "a"}},
		{"TypeAny", &apitype.ArtifactFilter{Type: &apitype.ArtifactFilterType{Any: []string{"table"}}}, []string{"c", "a"}},
		{"TypeNotAnyDropsUntyped", &apitype.ArtifactFilter{Type: &apitype.ArtifactFilterType{NotAny: []string{"table", "result"}}}, []string{"f", "b"}},
		{"And", &apitype.ArtifactFilter{
			Type:      &apitype.ArtifactFilterType{Any: []string{"table"}},
			FlowRunID: &apitype.ArtifactFilterFlowRunID{Any: []uuid.UUID{fr1}},
		}, []string{"a"}},
		{"Or", &apitype.ArtifactFilter{
			Operator:  apitype.OperatorOr,
			Type:      &apitype.ArtifactFilterType{Any: []string{"progress"}},
			TaskRunID: &apitype.ArtifactFilterTaskRunID{Any: []uuid.UUID{tr1}},
		}, []string{"f", "d", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, list(tc.filter, byCreated)) })
	}

	t.Run("Sorts", func(t *testing.T) {
		require.Equal(t, all, list(nil, apitype.ArtifactSortCreatedDesc))
		require.NoError(t, s.ArtifactUpdate(ctx, c.ID, &storage.ArtifactUpdateParams{Now: at(50)}))
		require.Equal(t, "c", list(nil, apitype.ArtifactSortUpdatedDesc)[0])
		// Bytewise key order; NULL keys last ascending, first descending.
		asc := list(nil, apitype.ArtifactSortKeyAsc)
		require.Equal(t, []string{"f", "c"}, asc[:2])
		require.ElementsMatch(t, []string{"a", "b"}, asc[2:4])
		require.ElementsMatch(t, []string{"d", "e"}, asc[4:])
		desc := list(nil, apitype.ArtifactSortKeyDesc)
		require.ElementsMatch(t, []string{"d", "e"}, desc[:2])
		require.Equal(t, []string{"c", "f"}, desc[4:])
		ids := []uuid.UUID{a.ID, b.ID, c.ID, d.ID, e.ID, f.ID}
		for _, sort := range []string{"", apitype.ArtifactSortIDDesc} {
			got, err := s.ArtifactList(ctx, &storage.ArtifactListParams{Sort: sort})
			require.NoError(t, err)
			for i := 1; i < len(got); i++ {
				require.Greater(t, got[i-1].ID.String(), got[i].ID.String(), "ID_DESC")
			}
			require.ElementsMatch(t, ids, ids2(got))
		}
		got, err := s.ArtifactList(ctx, &storage.ArtifactListParams{Sort: byCreated, Limit: 2, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"e", "d"}, names(got))
		_, err = s.ArtifactList(ctx, &storage.ArtifactListParams{Sort: "NAME_ASC"})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
		_, err = s.ArtifactCount(ctx, &apitype.ArtifactFilter{Operator: "nand_"}, nil)
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})

	t.Run("Collections", func(t *testing.T) {
		keys := func(filter *apitype.ArtifactCollectionFilter, sort string) []string {
			t.Helper()
			got, err := s.ArtifactCollectionList(ctx, &storage.ArtifactCollectionListParams{Filter: filter, Sort: sort})
			require.NoError(t, err)
			n, err := s.ArtifactCollectionCount(ctx, filter, nil)
			require.NoError(t, err)
			require.EqualValues(t, len(got), n)
			out := make([]string, len(got))
			for i, c := range got {
				out[i] = c.Key
			}
			return out
		}
		require.Equal(t, []string{"Zeta", "my_key", "sales-report"}, keys(nil, apitype.ArtifactSortKeyAsc))
		require.Equal(t, []string{"sales-report", "my_key", "Zeta"}, keys(nil, apitype.ArtifactSortKeyDesc))
		require.Equal(t, []string{"Zeta", "my_key", "sales-report"}, keys(nil, apitype.ArtifactSortCreatedDesc))
		require.Equal(t, []string{"my_key", "Zeta", "sales-report"}, keys(nil, apitype.ArtifactSortUpdatedDesc))
		for _, tc := range []struct {
			name   string
			filter *apitype.ArtifactCollectionFilter
			want   []string
		}{
			{"LatestID", &apitype.ArtifactCollectionFilter{LatestID: &apitype.ArtifactFilterID{Any: []uuid.UUID{a.ID, b.ID}}}, []string{"sales-report"}},
			{"LatestIDOfOlderVersion", &apitype.ArtifactCollectionFilter{LatestID: &apitype.ArtifactFilterID{Any: []uuid.UUID{a.ID}}}, []string{}},
			{"KeyLike", &apitype.ArtifactCollectionFilter{Key: &apitype.ArtifactFilterKey{Like: ptr("e")}}, []string{"Zeta", "my_key", "sales-report"}},
			{"KeyExistsFalse", &apitype.ArtifactCollectionFilter{Key: &apitype.ArtifactFilterKey{Exists: ptr(false)}}, []string{}},
			{"TypeUsesLatest", &apitype.ArtifactCollectionFilter{Type: &apitype.ArtifactFilterType{Any: []string{"table"}}}, []string{"my_key"}},
			{"TypeNotAny", &apitype.ArtifactCollectionFilter{Type: &apitype.ArtifactFilterType{NotAny: []string{"table"}}}, []string{"Zeta", "sales-report"}},
			{"FlowRun", &apitype.ArtifactCollectionFilter{FlowRunID: &apitype.ArtifactFilterFlowRunID{Any: []uuid.UUID{fr1}}}, []string{"sales-report"}},
			{"TaskRunOfOlderVersion", &apitype.ArtifactCollectionFilter{TaskRunID: &apitype.ArtifactFilterTaskRunID{Any: []uuid.UUID{tr1}}}, []string{}},
			{"Or", &apitype.ArtifactCollectionFilter{Operator: apitype.OperatorOr,
				Key:  &apitype.ArtifactFilterKey{Any: []string{"Zeta"}},
				Type: &apitype.ArtifactFilterType{Any: []string{"markdown"}}}, []string{"Zeta", "sales-report"}},
		} {
			t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, keys(tc.filter, apitype.ArtifactSortKeyAsc)) })
		}
		got, err := s.ArtifactCollectionList(ctx, &storage.ArtifactCollectionListParams{Sort: apitype.ArtifactSortKeyAsc, Limit: 1, Offset: 2})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "sales-report", got[0].Key)
		_, err = s.ArtifactCollectionList(ctx, &storage.ArtifactCollectionListParams{Sort: "bogus"})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})
}

func ids2(list []apitype.Artifact) []uuid.UUID {
	return ids(list, func(a apitype.Artifact) uuid.UUID { return a.ID })
}
