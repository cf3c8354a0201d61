package dbopen

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Engines named by Target.Engine.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Target is a parsed connection URL.
type Target struct {
	Engine string // EngineSQLite or EnginePostgres
	// Path is the SQLite file path (":memory:" for an in-memory database).
	Path string
	// URL is the postgres:// URL handed to pgx, with any +driver removed.
	URL string
}

// ParseURL chooses the engine from the URL scheme, ignoring a SQLAlchemy
// "+driver" suffix, so Prefect-style URLs work unchanged:
//
//	sqlite://                         in-memory
//	sqlite:///rel/path.db             rel/path.db, relative to the working directory (as SQLAlchemy)
//	sqlite:////abs/path.db            /abs/path.db (SQLAlchemy's absolute form)
//	sqlite+aiosqlite:////abs/path.db  /abs/path.db
//	file:/abs/path.db, file:rel.db    the path after "file:"
//	postgres://..., postgresql://..., postgresql+asyncpg://...
//
// Query parameters of SQLite URLs are ignored: Warden sets its own pragmas.
func ParseURL(raw string) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" {
		return Target{}, fmt.Errorf("database url %q: no scheme (want sqlite:// or postgresql://)", Redact(raw))
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "sqlite":
		rest, ok := strings.CutPrefix(rest, "//")
		if !ok {
			return Target{}, fmt.Errorf("database url %q: want sqlite:///path", Redact(raw))
		}
		rest, _, _ = strings.Cut(rest, "?")
		switch {
		case rest == "" || rest == "/" || rest == ":memory:" || rest == "/:memory:":
			return Target{Engine: EngineSQLite, Path: ":memory:"}, nil
		}
		// SQLAlchemy: the path is what follows the third slash, so a fourth
		// slash makes it absolute.
		rest, ok = strings.CutPrefix(rest, "/")
		if !ok {
			return Target{}, fmt.Errorf("database url %q: want sqlite:///path", Redact(raw))
		}
		return Target{Engine: EngineSQLite, Path: rest}, nil
	case "file":
		rest, _, _ = strings.Cut(rest, "?")
		if r, ok := strings.CutPrefix(rest, "//"); ok {
			rest = r // file:///abs → /abs
		}
		if rest == "" {
			return Target{}, fmt.Errorf("database url %q: empty path", Redact(raw))
		}
		return Target{Engine: EngineSQLite, Path: rest}, nil
	case "postgres", "postgresql":
		return Target{Engine: EnginePostgres, URL: "postgresql:" + rest}, nil
	}
	return Target{}, fmt.Errorf("database url %q: unsupported scheme %q (want sqlite or postgresql)", Redact(raw), scheme)
}

// pwParam matches a password given as a query or key=value parameter.
var pwParam = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^&\s]*)`)

// credentials locates the password in what follows "scheme://": from the
// first ':' to the last '@' of the whole remainder. A password with an
// unescaped '?', '/' or '@' is still masked whole; masking a little too much
// (an '@' in the query) beats printing a secret.
func credentials(rest string) (start, end int, ok bool) {
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return 0, 0, false
	}
	return colon + 1, at, true
}

// Redact returns url with any password replaced by "xxxxx", for logs and
// error messages. It works on malformed URLs too (see credentials).
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return pwParam.ReplaceAllString(raw, "${1}xxxxx")
	}
	if start, end, ok := credentials(rest); ok {
		rest = rest[:start] + "xxxxx" + rest[end:]
	}
	return scheme + "://" + pwParam.ReplaceAllString(rest, "${1}xxxxx")
}

// secrets returns the password spellings of url that must not appear in
// errors: as written and percent-decoded.
func secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if start, end, ok := credentials(rest); ok {
			add(rest[start:end])
		}
	}
	for _, m := range pwParam.FindAllStringSubmatch(raw, -1) {
		add(strings.Trim(m[2], "'"))
	}
	return out
}

// redactedError hides passwords in a wrapped error's message while keeping
// errors.Is/As working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrub removes the passwords of url from err's message.
func scrub(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets(raw) {
		if strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
