package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/internal/storage"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// Migrations lists the engine's migrations in order.
func Migrations() ([]storage.Migration, error) {
	return storage.LoadMigrations(migrationFS, "migration")
}

// migrationLockKey serialises migrations of several Warden processes
// sharing one database (pg_advisory_xact_lock key; "warden" in ASCII).
const migrationLockKey = 0x77617264656e

const createMigrationTable = `CREATE TABLE IF NOT EXISTS ` + storage.MigrationTable + ` (
    version integer PRIMARY KEY,
    name    text NOT NULL,
    applied timestamptz NOT NULL
)`

// AppliedVersions returns the versions recorded in warden_migrations (none
// when the table does not exist yet).
func (s *Store) AppliedVersions(ctx context.Context) ([]int, error) {
	tables, err := s.listTables(ctx)
	if err != nil {
		return nil, err
	}
	if err := storage.DetectPrefectSchema(tables); err != nil {
		return nil, err
	}
	if !slices.Contains(tables, storage.MigrationTable) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT version FROM `+storage.MigrationTable+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	return versions, nil
}

// Pending returns the migrations not yet applied.
func (s *Store) Pending(ctx context.Context) ([]storage.Migration, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	applied, err := s.AppliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	return storage.PendingMigrations(all, applied)
}

// Migrate applies every pending migration, each in its own transaction
// holding an advisory lock, and returns the ids ("0001_init") it applied.
func (s *Store) Migrate(ctx context.Context, now time.Time) ([]string, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range all {
		did := false
		err := s.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey)); err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
			if _, err := tx.Exec(ctx, createMigrationTable); err != nil {
				return fmt.Errorf("create %s: %w", storage.MigrationTable, err)
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+storage.MigrationTable+` WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("read applied migrations: %w", err)
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, m.Up); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.ID(), err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+storage.MigrationTable+` (version, name, applied) VALUES ($1, $2, $3)`,
				m.Version, m.Name, storage.DBTime(now)); err != nil {
				return fmt.Errorf("record migration %s: %w", m.ID(), err)
			}
			did = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if did {
			s.logger.Info("applied migration", slog.String("migration", m.ID()), slog.String("engine", "postgres"))
			applied = append(applied, m.ID())
		}
	}
	return applied, nil
}

// Reset drops Warden's tables by running the down migrations of every applied
// version in reverse, then drops warden_migrations. It refuses a Prefect schema.
func (s *Store) Reset(ctx context.Context) error {
	all, err := Migrations()
	if err != nil {
		return err
	}
	applied, err := s.AppliedVersions(ctx)
	if err != nil {
		return err
	}
	if _, err := storage.PendingMigrations(all, applied); err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey)); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
		for i := len(all) - 1; i >= 0; i-- {
			if !slices.Contains(applied, all[i].Version) {
				continue
			}
			if _, err := tx.Exec(ctx, all[i].Down); err != nil {
				return fmt.Errorf("revert migration %s: %w", all[i].ID(), err)
			}
		}
		if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+storage.MigrationTable); err != nil {
			return fmt.Errorf("drop %s: %w", storage.MigrationTable, err)
		}
		return nil
	})
}
