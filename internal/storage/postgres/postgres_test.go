package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/pgtest"
	"github.com/warden-orchestration/warden/internal/storage/postgres"
	"github.com/warden-orchestration/warden/internal/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openMigrated(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.Migrate(context.Background(), time.Now())
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Exercise(t, func(t *testing.T) storage.Store { return openMigrated(t, pgtest.URL(t)) })
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
	require.NoError(t, err)
	defer s.Close()

	ids := migrationIDs(t)
	pending, err := s.Pending(ctx)
	require.NoError(t, err)
	require.Len(t, pending, len(ids))
	applied, err := s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, ids, applied)
	applied, err = s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	require.Empty(t, applied)

	require.NoError(t, s.ConfigurationSet(ctx, "k", []byte(`1`), time.Now()))
	require.NoError(t, s.Reset(ctx))
	versions, err := s.AppliedVersions(ctx)
	require.NoError(t, err)
	require.Empty(t, versions)
	_, err = s.Migrate(ctx, time.Now())
	require.NoError(t, err)
	_, err = s.ConfigurationGet(ctx, "k")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func TestConcurrentMigrate(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, err := postgres.Open(ctx, url, postgres.Options{})
	require.NoError(t, err)
	defer a.Close()
	b, err := postgres.Open(ctx, url, postgres.Options{})
	require.NoError(t, err)
	defer b.Close()

	results := make(chan []string, 2)
	errs := make(chan error, 2)
	for _, s := range []*postgres.Store{a, b} {
		go func() {
			applied, err := s.Migrate(ctx, time.Now())
			results <- applied
			errs <- err
		}()
	}
	total := 0
	for range 2 {
		require.NoError(t, <-errs)
		total += len(<-results)
	}
	require.Equal(t, len(migrationIDs(t)), total, "the advisory lock lets exactly one process apply each migration")
}

// migrationIDs lists every migration the engine ships, "0001_init" first.
func migrationIDs(t *testing.T) []string {
	t.Helper()
	all, err := postgres.Migrations()
	require.NoError(t, err)
	var ids []string
	for _, m := range all {
		ids = append(ids, m.ID())
	}
	require.Equal(t, "0001_init", ids[0])
	return ids
}

func TestRefusesPrefectSchema(t *testing.T) {
	for _, tc := range []struct{ name, ddl, found string }{
		{"Alembic", `CREATE TABLE alembic_version (version_num varchar(32) NOT NULL)`, "alembic_version"},
		{"FlowRunWithoutWarden", `CREATE TABLE flow_run (id uuid)`, "flow_run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			url := pgtest.URL(t)
			conn, err := pgx.Connect(ctx, url)
			require.NoError(t, err)
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, tc.ddl)
			require.NoError(t, err)

			_, err = postgres.Open(ctx, url, postgres.Options{})
			require.ErrorIs(t, err, storage.ErrPrefectSchema)
			require.ErrorContains(t, err, tc.found)

			var n int
			require.NoError(t, conn.QueryRow(ctx,
				`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n))
			require.Equal(t, 1, n, "a Prefect database must not be modified")
		})
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{
		"postgres://user:s3cretpw@127.0.0.1:notaport/db",
		"postgres://user:s3cretpw@127.0.0.1:1/db?sslmode=bogus",
		"postgres://user:s3cretpw@127.0.0.1:1/db?connect_timeout=1",
	} {
		_, err := postgres.Open(ctx, url, postgres.Options{})
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cretpw")
	}
}
