package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-orchestration/warden/internal/storage"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// Migrations lists the engine's migrations in order.
func Migrations() ([]storage.Migration, error) {
	return storage.LoadMigrations(migrationFS, "migration")
}

const createMigrationTable = `CREATE TABLE IF NOT EXISTS ` + storage.MigrationTable + ` (
    version INTEGER PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL,
    applied TEXT NOT NULL
)`

// AppliedVersions returns the versions recorded in warden_migrations (none
// when the table does not exist yet).
func (s *Store) AppliedVersions(ctx context.Context) ([]int, error) {
	tables, err := listTables(ctx, s.reader)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if err := storage.DetectPrefectSchema(tables); err != nil {
		return nil, err
	}
	found := false
	for _, t := range tables {
		found = found || t == storage.MigrationTable
	}
	if !found {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT version FROM `+storage.MigrationTable+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
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

// Migrate applies every pending migration, each in its own transaction, and
// returns the ids ("0001_init") it applied.
func (s *Store) Migrate(ctx context.Context, now time.Time) ([]string, error) {
	var applied []string
	// The writer is the only connection that writes, and each migration
	// re-reads the recorded versions inside its BEGIN IMMEDIATE transaction,
	// so two processes migrating the same file cannot apply one twice.
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		did := false
		err := s.write(ctx, func(tx *sql.Tx) error {
			tables, err := listTables(ctx, tx)
			if err != nil {
				return fmt.Errorf("list tables: %w", err)
			}
			if err := storage.DetectPrefectSchema(tables); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, createMigrationTable); err != nil {
				return fmt.Errorf("create %s: %w", storage.MigrationTable, err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+storage.MigrationTable+` WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("read applied migrations: %w", err)
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.Up); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.ID(), err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+storage.MigrationTable+` (version, name, applied) VALUES (?, ?, ?)`,
				m.Version, m.Name, encodeTime(now)); err != nil {
				return fmt.Errorf("record migration %s: %w", m.ID(), err)
			}
			did = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if did {
			s.logger.Info("applied migration", slog.String("migration", m.ID()), slog.String("engine", "sqlite"))
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
	done := map[int]bool{}
	for _, v := range applied {
		done[v] = true
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for i := len(all) - 1; i >= 0; i-- {
			if !done[all[i].Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, all[i].Down); err != nil {
				return fmt.Errorf("revert migration %s: %w", all[i].ID(), err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+storage.MigrationTable); err != nil {
			return fmt.Errorf("drop %s: %w", storage.MigrationTable, err)
		}
		return nil
	})
}
