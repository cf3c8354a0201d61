package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
	"github.com/warden-orchestration/warden/internal/storage/storagetest"
)

func openMigrated(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.Migrate(context.Background(), time.Now())
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Exercise(t, func(t *testing.T) storage.Store {
		return openMigrated(t, filepath.Join(t.TempDir(), "warden.db"))
	})
}

func TestConformanceInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("file-backed run covers the queries")
	}
	storagetest.Exercise(t, func(t *testing.T) storage.Store { return openMigrated(t, ":memory:") })
}

func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	openMigrated(t, path)
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()

	all, err := sqlite.Migrations()
	require.NoError(t, err)
	var ids []string
	var versions []int
	for _, m := range all {
		ids, versions = append(ids, m.ID()), append(versions, m.Version)
	}
	require.Equal(t, "0001_init", ids[0])

	pending, err := s.Pending(ctx)
	require.NoError(t, err)
	require.Len(t, pending, len(all))

	applied, err := s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, ids, applied)
	applied, err = s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	require.Empty(t, applied, "a second run applies nothing")
	got, err := s.AppliedVersions(ctx)
	require.NoError(t, err)
	require.Equal(t, versions, got)

	// Reset drops the data and the record; migrating again recreates an empty schema.
	require.NoError(t, s.ConfigurationSet(ctx, "k", []byte(`1`), time.Now()))
	require.NoError(t, s.Reset(ctx))
	versions, err = s.AppliedVersions(ctx)
	require.NoError(t, err)
	require.Empty(t, versions)
	_, err = s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	_, err = s.ConfigurationGet(ctx, "k")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func TestRefusesPrefectSchema(t *testing.T) {
	for _, tc := range []struct {
		name, ddl, found string
	}{
		{"Alembic", `CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)`, "alembic_version"},
		{"FlowRunWithoutWarden", `CREATE TABLE flow_run (id TEXT)`, "flow_run"},
		{"FlowWithoutWarden", `CREATE TABLE flow (id TEXT)`, "flow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "prefect.db")
			db, err := sql.Open("sqlite", "file:"+path)
			require.NoError(t, err)
			_, err = db.Exec(tc.ddl)
			require.NoError(t, err)
			require.NoError(t, db.Close())
			before := fileSum(t, path)

			_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
			require.ErrorIs(t, err, storage.ErrPrefectSchema)
			require.ErrorContains(t, err, tc.found)
			require.ErrorContains(t, err, "server.database.connection_url")
			require.Equal(t, before, fileSum(t, path), "a Prefect database must not be modified")
			_, err = os.Stat(path + "-wal")
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

func TestMigrationsMatchFiles(t *testing.T) {
	ms, err := sqlite.Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for i, m := range ms {
		require.Equal(t, i+1, m.Version, "versions are contiguous from 1")
	}
}
