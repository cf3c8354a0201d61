package storage_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
)

func TestLoadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"m/0002_runs.up.sql":   {Data: []byte("up2")},
		"m/0002_runs.down.sql": {Data: []byte("down2")},
		"m/0001_init.up.sql":   {Data: []byte("up1")},
		"m/0001_init.down.sql": {Data: []byte("down1")},
	}
	ms, err := storage.LoadMigrations(good, "m")
	require.NoError(t, err)
	require.Equal(t, []storage.Migration{
		{Version: 1, Name: "init", Up: "up1", Down: "down1"},
		{Version: 2, Name: "runs", Up: "up2", Down: "down2"},
	}, ms)
	require.Equal(t, "0002_runs", ms[1].ID())

	for name, fsys := range map[string]fstest.MapFS{
		"MissingDown": {"m/0001_init.up.sql": {Data: []byte("x")}},
		"TwoNames":    {"m/0001_a.up.sql": {Data: []byte("x")}, "m/0001_b.down.sql": {Data: []byte("x")}},
		"BadName":     {"m/init.up.sql": {Data: []byte("x")}},
		"BadSuffix":   {"m/0001_init.sql": {Data: []byte("x")}},
	} {
		_, err := storage.LoadMigrations(fsys, "m")
		require.Error(t, err, name)
	}
}

func TestPendingMigrations(t *testing.T) {
	all := []storage.Migration{{Version: 1, Name: "a"}, {Version: 2, Name: "b"}}
	p, err := storage.PendingMigrations(all, []int{1})
	require.NoError(t, err)
	require.Equal(t, all[1:], p)
	_, err = storage.PendingMigrations(all, []int{1, 3})
	require.ErrorContains(t, err, "0003")
}

func TestDetectPrefectSchema(t *testing.T) {
	require.NoError(t, storage.DetectPrefectSchema(nil))
	require.NoError(t, storage.DetectPrefectSchema([]string{"warden_migrations", "flow", "flow_run"}))
	require.ErrorIs(t, storage.DetectPrefectSchema([]string{"warden_migrations", "alembic_version"}), storage.ErrPrefectSchema)
	require.ErrorIs(t, storage.DetectPrefectSchema([]string{"flow_run"}), storage.ErrPrefectSchema)
	require.ErrorIs(t, storage.DetectPrefectSchema([]string{"flow"}), storage.ErrPrefectSchema)
	require.NoError(t, storage.DetectPrefectSchema([]string{"unrelated"}))
}

func TestLikeContains(t *testing.T) {
	require.Equal(t, `%a\%b\_c\\d%`, storage.LikeContains(`a%b_c\d`))
}
