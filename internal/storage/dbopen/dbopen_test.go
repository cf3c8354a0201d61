package dbopen_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
	"github.com/warden-orchestration/warden/internal/storage/pgtest"
	"github.com/warden-orchestration/warden/internal/storage/postgres"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want dbopen.Target
	}{
		{"sqlite://", dbopen.Target{Engine: "sqlite", Path: ":memory:"}},
		{"sqlite:///:memory:", dbopen.Target{Engine: "sqlite", Path: ":memory:"}},
		{"sqlite:///rel/path.db", dbopen.Target{Engine: "sqlite", Path: "rel/path.db"}},
		{"sqlite:////root/.prefect/warden.db", dbopen.Target{Engine: "sqlite", Path: "/root/.prefect/warden.db"}},
		{"sqlite+aiosqlite:////data/prefect.db?timeout=5", dbopen.Target{Engine: "sqlite", Path: "/data/prefect.db"}},
		{"SQLite+AIOSQLITE:///x.db", dbopen.Target{Engine: "sqlite", Path: "x.db"}},
		{"file:/abs/w.db", dbopen.Target{Engine: "sqlite", Path: "/abs/w.db"}},
		{"file:///abs/w.db?mode=rwc", dbopen.Target{Engine: "sqlite", Path: "/abs/w.db"}},
		{"file:rel/w.db", dbopen.Target{Engine: "sqlite", Path: "rel/w.db"}},
		{"postgres://u:p@h:5432/db", dbopen.Target{Engine: "postgres", URL: "postgresql://u:p@h:5432/db"}},
		{"postgresql://h/db", dbopen.Target{Engine: "postgres", URL: "postgresql://h/db"}},
		{"postgresql+asyncpg://u:p@h/db?sslmode=require", dbopen.Target{Engine: "postgres", URL: "postgresql://u:p@h/db?sslmode=require"}},
	} {
		got, err := dbopen.ParseURL(tc.url)
		require.NoError(t, err, tc.url)
		require.Equal(t, tc.want, got, tc.url)
	}
	for _, bad := range []string{"", "/just/a/path", "mysql://u:hunter2@h/db", "sqlite:relative", "file:"} {
		_, err := dbopen.ParseURL(bad)
		require.Error(t, err, bad)
		require.NotContains(t, err.Error(), "hunter2")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql+asyncpg://user:s3cret@db:5432/prefect": "postgresql+asyncpg://user:xxxxx@db:5432/prefect",
		"postgres://user@db/prefect":                       "postgres://user@db/prefect",
		"postgres://u:p@ss/w#rd@db/x?sslmode=disable":      "postgres://u:xxxxx@db/x?sslmode=disable",
		"postgres://db/x?user=u&password=s3cret&a=b":       "postgres://db/x?user=u&password=xxxxx&a=b",
		"host=db user=u password=s3cret dbname=x":          "host=db user=u password=xxxxx dbname=x",
		"sqlite:////root/.prefect/warden.db":               "sqlite:////root/.prefect/warden.db",
		// Unescaped '?' and '@' in a password: the whole password is masked.
		"postgresql://u:SEC?RET@127.0.0.1:1/db":  "postgresql://u:xxxxx@127.0.0.1:1/db",
		"postgresql://u:a@b?c/d@db:5432/x?ssl=1": "postgresql://u:xxxxx@db:5432/x?ssl=1",
	} {
		require.Equal(t, want, dbopen.Redact(in), in)
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "nested", "home")
	url := "sqlite+aiosqlite:///" + filepath.Join(dir, "warden.db")

	_, err := dbopen.Open(ctx, url, dbopen.Options{})
	require.ErrorIs(t, err, storage.ErrSchemaOutdated, "without Migrate a fresh database is refused")
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	s, err := dbopen.Open(ctx, url, dbopen.Options{Migrate: true})
	require.NoError(t, err)
	require.Equal(t, "sqlite", s.Engine())
	_, _, err = s.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.New(), Name: "f", Now: time.Now()})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err = os.Stat(filepath.Join(dir, "warden.db"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the database file is owner-only")

	s, err = dbopen.Open(ctx, url, dbopen.Options{})
	require.NoError(t, err, "a migrated database opens without Migrate")
	_, err = s.FlowGetByName(ctx, "f")
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestUpgradeAndResetSQLite(t *testing.T) {
	testUpgradeAndReset(t, "sqlite:///"+filepath.Join(t.TempDir(), "w.db"))
}

func TestUpgradeAndResetPostgres(t *testing.T) {
	url := pgtest.URL(t)
	testUpgradeAndReset(t, strings.Replace(url, "postgres://", "postgresql+asyncpg://", 1))
}

func testUpgradeAndReset(t *testing.T, url string) {
	ctx := context.Background()
	all, err := sqlite.Migrations() // both engines ship the same list (TestEnginesShareMigrations)
	require.NoError(t, err)
	var ids []string
	for _, m := range all {
		ids = append(ids, m.ID())
	}
	applied, err := dbopen.Upgrade(ctx, url)
	require.NoError(t, err)
	require.Equal(t, ids, applied)
	applied, err = dbopen.Upgrade(ctx, url)
	require.NoError(t, err)
	require.Empty(t, applied)

	s, err := dbopen.Open(ctx, url, dbopen.Options{})
	require.NoError(t, err)
	require.NoError(t, s.ConfigurationSet(ctx, "k", []byte(`1`), time.Now()))
	require.NoError(t, s.Close())

	require.NoError(t, dbopen.Reset(ctx, url))
	s, err = dbopen.Open(ctx, url, dbopen.Options{})
	require.NoError(t, err, "reset leaves a migrated schema")
	defer s.Close()
	_, err = s.ConfigurationGet(ctx, "k")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func TestRefusesPrefectSchemaSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "prefect.db")
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL); CREATE TABLE flow_run (id TEXT)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	url := "sqlite+aiosqlite:///" + path

	_, err = dbopen.Open(ctx, url, dbopen.Options{Migrate: true})
	require.ErrorIs(t, err, storage.ErrPrefectSchema)
	require.ErrorContains(t, err, "alembic_version")
	_, err = dbopen.Upgrade(ctx, url)
	require.ErrorIs(t, err, storage.ErrPrefectSchema)
	require.ErrorIs(t, dbopen.Reset(ctx, url), storage.ErrPrefectSchema)

	db, err = sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&n))
	require.Equal(t, 2, n, "the Prefect database is untouched")
}

func TestErrorsHidePassword(t *testing.T) {
	ctx := context.Background()
	for url, secret := range map[string]string{
		"postgresql+asyncpg://warden:hunter2@127.0.0.1:1/db?connect_timeout=2": "hunter2",
		"postgresql://warden:hunter2@127.0.0.1:notaport/db":                    "hunter2",
		"postgresql://warden:hunter2@127.0.0.1:1/db?sslmode=nonsense":          "hunter2",
		"postgresql://warden:hun?ter2@127.0.0.1:1/db":                          "ter2",
	} {
		_, err := dbopen.Open(ctx, url, dbopen.Options{Migrate: true})
		require.Error(t, err, url)
		require.NotContains(t, err.Error(), secret, url)
		_, err = dbopen.Upgrade(ctx, url)
		require.Error(t, err)
		require.NotContains(t, err.Error(), secret, url)
		err = dbopen.Reset(ctx, url)
		require.Error(t, err)
		require.NotContains(t, err.Error(), secret, url)
	}
}

// Both engines must ship the same migration numbers and names.
func TestEnginesShareMigrations(t *testing.T) {
	lite, err := sqlite.Migrations()
	require.NoError(t, err)
	pg, err := postgres.Migrations()
	require.NoError(t, err)
	ids := func(ms []storage.Migration) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.ID()
		}
		return out
	}
	require.NotEmpty(t, lite)
	require.Equal(t, ids(lite), ids(pg))
}
