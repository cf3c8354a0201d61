// Package sqlite is the SQLite storage engine (modernc.org/sqlite, no cgo).
//
// Writes go through one connection (SetMaxOpenConns(1)) whose transactions
// start with BEGIN IMMEDIATE, so writers queue in Go instead of colliding in
// SQLite: "database is locked" cannot happen between Warden's own writers.
// Reads use a separate pool of query_only connections, which WAL lets run
// alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/warden-orchestration/warden/internal/storage"
)

// busyTimeoutMS bounds how long a connection waits for a lock held by another
// process (e.g. a second Warden on the same file) before failing.
const busyTimeoutMS = 10000

// Options tune Open.
type Options struct {
	Logger *slog.Logger // nil discards
	// ReadConns caps the read pool; 0 means max(4, GOMAXPROCS).
	ReadConns int
}

// Store is a SQLite database opened for Warden.
type Store struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	logger *slog.Logger
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path; ":memory:" gives
// a private in-memory database. It refuses a database holding Prefect's own
// schema before changing anything in the file. Open does not migrate: call
// Migrate (or use dbopen).
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	s := &Store{path: path, logger: logger}
	if path == ":memory:" {
		// One connection serves reads and writes: separate connections to
		// ":memory:" would each see their own empty database.
		db, err := sql.Open("sqlite", "file:warden-"+uuid.NewString()+"?mode=memory&_txlock=immediate&_pragma=foreign_keys(1)")
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		s.writer, s.reader = db, db
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		return s, nil
	}
	if err := refusePrefect(ctx, path); err != nil {
		return nil, err
	}
	// Create the file owner-only; SQLite gives its -wal and -shm files the
	// same mode.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create sqlite file: %w", err)
	}
	uri := "file:" + escapePath(path)
	writer, err := sql.Open("sqlite", uri+"?_txlock=immediate"+
		fmt.Sprintf("&_pragma=busy_timeout(%d)", busyTimeoutMS)+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Open the writer first: it creates the file and switches it to WAL,
	// which the read connections rely on.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", uri+fmt.Sprintf("?_pragma=busy_timeout(%d)", busyTimeoutMS)+
		"&_pragma=query_only(1)&_pragma=foreign_keys(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	if err := reader.PingContext(ctx); err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.writer, s.reader = writer, reader
	return s, nil
}

// escapePath makes a file path safe inside a SQLite "file:" URI, where
// '?' starts the query, '#' a fragment and '%' an escape.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(p)
}

// refusePrefect inspects an existing file read-only, so a Prefect database is
// rejected before journal_mode=WAL (a persistent change) touches it.
func refusePrefect(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)", busyTimeoutMS))
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	defer db.Close()
	tables, err := listTables(ctx, db)
	if err != nil {
		return fmt.Errorf("inspect sqlite %s: %w", path, err)
	}
	return storage.DetectPrefectSchema(tables)
}

func listTables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// Engine implements storage.Store.
func (s *Store) Engine() string { return "sqlite" }

// Path is the database file path.
func (s *Store) Path() string { return s.path }

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	err := s.writer.Close()
	if s.reader != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

// write runs fn in a BEGIN IMMEDIATE transaction on the single writer.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return interpretError(tx.Commit())
}

// interpretError maps driver errors onto storage's sentinels.
func interpretError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case strings.Contains(err.Error(), "UNIQUE constraint failed"):
		return fmt.Errorf("%w: %w", storage.ErrConflict, err)
	}
	return err
}

// timeLayout is fixed-width, so comparing and sorting the text sorts by time.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func encodeTime(t time.Time) string { return storage.DBTime(t).Format(timeLayout) }

func decodeTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("decode time %q: %w", s, err)
	}
	return t, nil
}

// dialect renders SQLite's filter fragments. JSON arrays are walked with
// json_each, so lists travel as one JSON-text parameter.
type dialect struct{}

func (dialect) Placeholder(int) string { return "?" }

func (dialect) In(w *storage.Where, col string, values []string) string {
	return "(" + col + " IN (SELECT value FROM json_each(" + w.Bind(storage.JSONList(values)) + ")))"
}

func (d dialect) InIDs(w *storage.Where, col string, ids []uuid.UUID) string {
	return d.In(w, col, storage.UUIDStrings(ids))
}

func (dialect) ContainsAll(w *storage.Where, col string, values []string) string {
	return "(NOT EXISTS (SELECT 1 FROM json_each(" + w.Bind(storage.JSONList(values)) + ") AS want" +
		" WHERE want.value NOT IN (SELECT have.value FROM json_each(" + col + ") AS have)))"
}

func (dialect) EmptyArray(col string) string {
	return "(" + col + " IS NULL OR json_array_length(" + col + ") = 0)"
}

func (dialect) ILike(w *storage.Where, col, pattern string) string {
	// SQLite's LIKE is already case-insensitive (for ASCII).
	return "(" + col + " LIKE " + w.Bind(pattern) + ` ESCAPE '\')`
}
