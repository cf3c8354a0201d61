package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MigrationTable records the applied migration versions in every engine.
const MigrationTable = "warden_migrations"

// Migration is one numbered schema change, shipped as NNNN_name.up.sql and
// NNNN_name.down.sql with the same numbers and names in every engine.
type Migration struct {
	Version int
	Name    string // e.g. "init"
	Up      string
	Down    string
}

// ID is the "0001_init" form reported to operators.
func (m Migration) ID() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// LoadMigrations reads the *.up.sql/*.down.sql pairs in dir of fsys, sorted by
// version. Every version needs both halves and a unique number.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		file := e.Name()
		base, dirn, ok := strings.Cut(file, ".")
		if !ok || (dirn != "up.sql" && dirn != "down.sql") {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.up.sql or .down.sql", file)
		}
		num, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 || name == "" {
			return nil, fmt.Errorf("migration file %q: want NNNN_name prefix", file)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, file))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", file, err)
		}
		m := byVersion[version]
		if m == nil {
			m = &Migration{Version: version, Name: name}
			byVersion[version] = m
		}
		if m.Name != name {
			return nil, fmt.Errorf("migration %04d has two names: %q and %q", version, m.Name, name)
		}
		if dirn == "up.sql" {
			m.Up = string(body)
		} else {
			m.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migration %s: needs both up and down files", m.ID())
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// PendingMigrations returns the migrations not in applied, or an error when
// the database carries versions this binary does not know (a newer Warden
// migrated it).
func PendingMigrations(all []Migration, applied []int) ([]Migration, error) {
	known := map[int]bool{}
	for _, m := range all {
		known[m.Version] = true
	}
	done := map[int]bool{}
	for _, v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("database has migration %04d, unknown to this Warden version: upgrade Warden", v)
		}
		done[v] = true
	}
	var pending []Migration
	for _, m := range all {
		if !done[m.Version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

// ErrSchemaOutdated is returned by an open without migration when migrations are pending.
var ErrSchemaOutdated = errors.New("database schema is outdated: run `warden database upgrade`")

// PrefectSchemaError reports a database created by Prefect's Python server.
// It wraps ErrPrefectSchema.
type PrefectSchemaError struct {
	Found string // the table that gave it away, e.g. "alembic_version"
}

func (e *PrefectSchemaError) Error() string {
	return fmt.Sprintf("database holds Prefect's own schema (%s found); Warden keeps its own database "+
		"and never modifies Prefect's: point server.database.connection_url at a new database", e.Found)
}

func (e *PrefectSchemaError) Unwrap() error { return ErrPrefectSchema }

// DetectPrefectSchema decides from the table names of a database whether it
// belongs to Prefect's Python server: alembic_version, or Prefect tables
// without Warden's migration table.
func DetectPrefectSchema(tables []string) error {
	has := map[string]bool{}
	for _, t := range tables {
		has[strings.ToLower(t)] = true
	}
	if has["alembic_version"] {
		return &PrefectSchemaError{Found: "alembic_version"}
	}
	if has[MigrationTable] {
		return nil
	}
	for _, t := range []string{"flow_run", "flow", "deployment", "task_run"} {
		if has[t] {
			return &PrefectSchemaError{Found: "table " + t + " without " + MigrationTable}
		}
	}
	return nil
}

// DBTime is the form in which every engine stores a time: UTC, truncated to
// the microsecond both SQLite text and Postgres timestamptz can hold, so both
// engines return identical values.
func DBTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
