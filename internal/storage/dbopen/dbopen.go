// Package dbopen opens the storage engine a connection URL names, and runs
// the operator commands on it (upgrade, reset). It is the one place that
// knows every engine.
package dbopen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/storage/postgres"
	"github.com/warden-orchestration/warden/internal/storage/sqlite"
)

// Options tune Open.
type Options struct {
	// Migrate applies pending migrations (server start does by default).
	// Without it, a database with pending migrations is refused with
	// storage.ErrSchemaOutdated.
	Migrate bool
	Logger  *slog.Logger // nil discards
}

// engine is what both engines offer beyond storage.Store.
type engine interface {
	storage.Store
	Pending(ctx context.Context) ([]storage.Migration, error)
	Migrate(ctx context.Context, now time.Time) ([]string, error)
	Reset(ctx context.Context) error
}

// Open opens the database url names. Errors never contain its password.
func Open(ctx context.Context, url string, opts Options) (storage.Store, error) {
	e, err := openEngine(ctx, url, opts.Logger)
	if err != nil {
		return nil, err
	}
	if err := prepare(ctx, e, opts.Migrate); err != nil {
		e.Close()
		return nil, scrub(err, url)
	}
	return e, nil
}

func prepare(ctx context.Context, e engine, migrate bool) error {
	pending, err := e.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	if !migrate {
		ids := make([]string, len(pending))
		for i, m := range pending {
			ids[i] = m.ID()
		}
		return fmt.Errorf("%w (pending: %s)", storage.ErrSchemaOutdated, strings.Join(ids, ", "))
	}
	_, err = e.Migrate(ctx, time.Now())
	return err
}

// Upgrade applies every pending migration and returns the ids it applied
// (e.g. ["0001_init"]); none when the database is up to date.
func Upgrade(ctx context.Context, url string) ([]string, error) {
	e, err := openEngine(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if _, err := e.Pending(ctx); err != nil { // refuses a newer schema
		return nil, scrub(err, url)
	}
	applied, err := e.Migrate(ctx, time.Now())
	return applied, scrub(err, url)
}

// Reset drops Warden's tables (all data) and migrates again. It refuses a
// database holding Prefect's schema.
func Reset(ctx context.Context, url string) error {
	e, err := openEngine(ctx, url, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Reset(ctx); err != nil {
		return scrub(fmt.Errorf("reset: %w", err), url)
	}
	_, err = e.Migrate(ctx, time.Now())
	return scrub(err, url)
}

func openEngine(ctx context.Context, url string, logger *slog.Logger) (engine, error) {
	t, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	switch t.Engine {
	case EngineSQLite:
		if t.Path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(t.Path), 0o700); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		s, err := sqlite.Open(ctx, t.Path, sqlite.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		return s, nil
	case EnginePostgres:
		s, err := postgres.Open(ctx, t.URL, postgres.Options{Logger: logger})
		if err != nil {
			return nil, scrub(err, url)
		}
		return s, nil
	}
	return nil, errors.New("unreachable: unknown engine " + t.Engine)
}
