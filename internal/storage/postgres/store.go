// Package postgres is the PostgreSQL storage engine (jackc/pgx/v5, pgxpool).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/warden-orchestration/warden/internal/storage"
)

// Options tune Open.
type Options struct {
	Logger *slog.Logger // nil discards
}

// Store is a PostgreSQL database opened for Warden.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

var _ storage.Store = (*Store)(nil)

// Session settings applied when the URL does not set them: a crashed client
// must not hold locks forever inside an abandoned transaction.
var defaultRuntimeParams = map[string]string{
	"application_name":                    "warden",
	"idle_in_transaction_session_timeout": "300000", // ms
}

// Open connects to the database at url (postgres:// or postgresql://). It
// refuses a database holding Prefect's own schema and changes nothing in it.
// Open does not migrate: call Migrate (or use dbopen).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, parseError(err)
	}
	for k, v := range defaultRuntimeParams {
		if _, ok := cfg.ConnConfig.RuntimeParams[k]; !ok {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, logger: logger}
	tables, err := s.listTables(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := storage.DetectPrefectSchema(tables); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// parseError keeps only the reason a URL failed to parse: pgx redacts the
// password only best-effort, and net/url errors quote the whole URL.
func parseError(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) || pe.Unwrap() == nil {
		return errors.New("parse postgres url: invalid connection string")
	}
	reason := pe.Unwrap()
	var ue *neturl.Error
	if errors.As(reason, &ue) {
		reason = ue.Err
	}
	return fmt.Errorf("parse postgres url: %w", reason)
}

// Pool exposes the connection pool, for tests and future engine packages.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) listTables(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return tables, nil
}

// Engine implements storage.Store.
func (s *Store) Engine() string { return "postgres" }

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// write runs fn in a transaction.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return markRetryable(pgx.BeginFunc(ctx, s.pool, fn))
}

// markRetryable tags the failures PostgreSQL resolves by aborting one
// transaction (serialization failure, deadlock, lock timeout) with
// storage.ErrRetryable: the transaction rolled back whole, so the caller may
// simply try again.
func markRetryable(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "55P03":
			return fmt.Errorf("%w: %w", storage.ErrRetryable, err)
		}
	}
	return err
}

// interpretError maps driver errors onto storage's sentinels.
func interpretError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return storage.ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %s", storage.ErrConflict, pgErr.ConstraintName)
	}
	return err
}

// dialect renders PostgreSQL's filter fragments: lists bind as arrays, tags
// use jsonb containment (served by the GIN index).
type dialect struct{}

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (dialect) In(w *storage.Where, col string, values []string) string {
	if values == nil {
		values = []string{}
	}
	return "(" + col + " = ANY(" + w.Bind(values) + "::text[]))"
}

func (dialect) InIDs(w *storage.Where, col string, ids []uuid.UUID) string {
	return "(" + col + " = ANY(" + w.Bind(storage.UUIDStrings(ids)) + "::uuid[]))"
}

func (dialect) ContainsAll(w *storage.Where, col string, values []string) string {
	return "(" + col + " @> " + w.Bind(storage.JSONList(values)) + "::jsonb)"
}

func (dialect) EmptyArray(col string) string {
	return "(" + col + " IS NULL OR " + col + " = '[]'::jsonb)"
}

func (dialect) ILike(w *storage.Where, col, pattern string) string {
	return "(" + col + " ILIKE " + w.Bind(pattern) + ` ESCAPE '\')`
}

// pageClause renders LIMIT/OFFSET; limit <= 0 means no limit.
func pageClause(w *storage.Where, limit, offset int) string {
	q := ""
	if limit > 0 {
		q = " LIMIT " + w.Bind(limit)
	}
	return q + " OFFSET " + w.Bind(max(offset, 0))
}

// execOne runs a statement that must touch exactly one row.
func execOne(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, what, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return nil
}
