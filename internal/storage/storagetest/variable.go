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

func createVariable(t *testing.T, s storage.Store, name, value string, tags []string, n int) *apitype.Variable {
	t.Helper()
	v, err := s.VariableCreate(context.Background(), &storage.VariableCreateParams{
		ID: uuid.New(), Name: name, Value: json.RawMessage(value), Tags: tags, Now: at(n),
	})
	require.NoError(t, err)
	return v
}

func variableNames(vs []apitype.Variable) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

func testVariable(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("ValuesRoundTripExactly", func(t *testing.T) {
		s := open(t)
		for i, value := range []string{
			`{"b": 1,  "a": [1, 2.50, "x"], "n": null}`,
			`"hello ünïcode \u00e9"`,
			`12345678901234567890`,
			`true`,
			`null`,
			`[]`,
		} {
			name := "v" + string(rune('a'+i))
			created := createVariable(t, s, name, value, nil, i)
			require.Equal(t, value, string(created.Value))
			got, err := s.VariableGetByName(ctx, name)
			require.NoError(t, err)
			require.Equal(t, value, string(got.Value))
			require.Equal(t, created, got)
		}
	})

	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		id := uuid.New()
		v, err := s.VariableCreate(ctx, &storage.VariableCreateParams{
			ID: id, Name: "var", Value: json.RawMessage(`"x"`), Tags: []string{"t"}, Now: at(0),
		})
		require.NoError(t, err)
		want := &apitype.Variable{ID: id, Created: stored(at(0)), Updated: stored(at(0)), Name: "var",
			Value: json.RawMessage(`"x"`), Tags: []string{"t"}}
		require.Equal(t, want, v)
		got, err := s.VariableGet(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, got)

		bare := createVariable(t, s, "bare", `1`, nil, 0)
		require.NotNil(t, bare.Tags)
		require.Empty(t, bare.Tags)
	})

	t.Run("DuplicateName", func(t *testing.T) {
		s := open(t)
		createVariable(t, s, "dup", `1`, nil, 0)
		_, err := s.VariableCreate(ctx, &storage.VariableCreateParams{ID: uuid.New(), Name: "dup", Value: json.RawMessage(`2`), Now: at(1)})
		require.ErrorIs(t, err, storage.ErrConflict)
		got, err := s.VariableGetByName(ctx, "dup")
		require.NoError(t, err)
		require.Equal(t, `1`, string(got.Value))
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		v := createVariable(t, s, "a", `1`, []string{"t"}, 0)
		require.NoError(t, s.VariableUpdate(ctx, v.ID, &apitype.VariableUpdate{
			Name: ptr("b"), Value: ptr(json.RawMessage(`{"z": 2}`)),
		}, at(3)))
		got, err := s.VariableGet(ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, "b", got.Name)
		require.Equal(t, `{"z": 2}`, string(got.Value))
		require.Equal(t, []string{"t"}, got.Tags)
		require.Equal(t, stored(at(0)), got.Created)
		require.Equal(t, stored(at(3)), got.Updated)

		require.NoError(t, s.VariableUpdateByName(ctx, "b", &apitype.VariableUpdate{Tags: &[]string{"u", "v"}}, at(4)))
		got, err = s.VariableGetByName(ctx, "b")
		require.NoError(t, err)
		require.Equal(t, []string{"u", "v"}, got.Tags)
		require.Equal(t, `{"z": 2}`, string(got.Value))
		require.Equal(t, stored(at(4)), got.Updated)
	})

	t.Run("UpdateConflictAndNotFound", func(t *testing.T) {
		s := open(t)
		a := createVariable(t, s, "a", `1`, nil, 0)
		createVariable(t, s, "b", `2`, nil, 0)
		require.ErrorIs(t, s.VariableUpdate(ctx, a.ID, &apitype.VariableUpdate{Name: ptr("b")}, at(1)), storage.ErrConflict)
		require.ErrorIs(t, s.VariableUpdateByName(ctx, "a", &apitype.VariableUpdate{Name: ptr("b")}, at(1)), storage.ErrConflict)
		got, err := s.VariableGet(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, "a", got.Name)
		require.Equal(t, stored(at(0)), got.Updated, "a failed update must not touch the row")

		require.ErrorIs(t, s.VariableUpdate(ctx, uuid.New(), &apitype.VariableUpdate{Value: ptr(json.RawMessage(`3`))}, at(1)), storage.ErrNotFound)
		require.ErrorIs(t, s.VariableUpdateByName(ctx, "zzz", &apitype.VariableUpdate{}, at(1)), storage.ErrNotFound)
		_, err = s.VariableGet(ctx, uuid.New())
		require.ErrorIs(t, err, storage.ErrNotFound)
		_, err = s.VariableGetByName(ctx, "zzz")
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		a := createVariable(t, s, "a", `1`, nil, 0)
		createVariable(t, s, "b", `2`, nil, 0)
		createVariable(t, s, "c", `3`, nil, 0)
		require.NoError(t, s.VariableDelete(ctx, a.ID))
		require.ErrorIs(t, s.VariableDelete(ctx, a.ID), storage.ErrNotFound)
		require.NoError(t, s.VariableDeleteByName(ctx, "b"))
		require.ErrorIs(t, s.VariableDeleteByName(ctx, "b"), storage.ErrNotFound)
		got, err := s.VariableList(ctx, &storage.VariableListParams{})
		require.NoError(t, err)
		require.Equal(t, []string{"c"}, variableNames(got))
	})

	t.Run("SortAndPage", func(t *testing.T) {
		s := open(t)
		b := createVariable(t, s, "b", `1`, nil, 0)
		createVariable(t, s, "a", `1`, nil, 1)
		createVariable(t, s, "c", `1`, nil, 2)
		require.NoError(t, s.VariableUpdate(ctx, b.ID, &apitype.VariableUpdate{}, at(9)))
		for _, tc := range []struct {
			sort string
			want []string
		}{
			{"", []string{"a", "b", "c"}},
			{apitype.VariableSortNameAsc, []string{"a", "b", "c"}},
			{apitype.VariableSortNameDesc, []string{"c", "b", "a"}},
			{apitype.VariableSortCreatedDesc, []string{"c", "a", "b"}},
			{apitype.VariableSortUpdatedDesc, []string{"b", "c", "a"}},
		} {
			got, err := s.VariableList(ctx, &storage.VariableListParams{Sort: tc.sort})
			require.NoError(t, err, tc.sort)
			require.Equal(t, tc.want, variableNames(got), tc.sort)
		}
		got, err := s.VariableList(ctx, &storage.VariableListParams{Sort: apitype.VariableSortNameDesc, Limit: 1, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"b"}, variableNames(got))
		_, err = s.VariableList(ctx, &storage.VariableListParams{Sort: "bogus"})
		require.ErrorIs(t, err, storage.ErrInvalidFilter)
	})
}
