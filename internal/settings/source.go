package settings

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// SourceKind says which configuration source a value came from.
type SourceKind int

const (
	SourceDefault SourceKind = iota
	SourceProfile
	SourcePyproject
	SourcePrefectTOML
	SourceDotEnv
	SourceEnv
	SourceOverride

	sourceInput // a value being validated before it is stored (config set)
)

// Source records where a value came from: Key is the env var name, TOML
// dotted key or profile key that matched; Profile names the profile.
type Source struct {
	Kind    SourceKind
	Key     string
	Profile string
}

// Label is the short name `config view` prints after "from", as Prefect does.
func (s Source) Label() string {
	switch s.Kind {
	case SourceEnv:
		return "env"
	case SourceDotEnv:
		return ".env file"
	case SourcePrefectTOML:
		return "prefect.toml"
	case SourcePyproject:
		return "pyproject.toml"
	case SourceProfile:
		return "profile"
	case SourceOverride:
		return "override"
	}
	return "defaults"
}

// Describe is the source as error messages name it, e.g. "env var PREFECT_SERVER_API_PORT".
func (s Source) Describe() string {
	switch s.Kind {
	case SourceEnv:
		return "env var " + s.Key
	case SourceDotEnv:
		return ".env file key " + s.Key
	case SourcePrefectTOML, SourcePyproject:
		return s.Label()
	case SourceProfile:
		return fmt.Sprintf("profile %q key %s", s.Profile, s.Key)
	case sourceInput:
		return "the command line"
	case SourceOverride:
		if s.Key != "" {
			return "override " + s.Key
		}
		return "override"
	}
	return "default"
}

func (s Source) String() string { return s.Describe() }

// envEntry is one variable of an env-like source (process env, .env,
// profile), kept under its upper-cased name for case-insensitive lookup.
type envEntry struct {
	name  string
	value any
}

type envMap map[string]envEntry

func newEnvMap(pairs []string) envMap {
	m := envMap{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		m[strings.ToUpper(k)] = envEntry{name: k, value: v}
	}
	return m
}

// get returns the first of names present: canonical beats legacy aliases.
func (m envMap) get(names []string) (envEntry, bool) {
	for _, n := range names {
		if e, ok := m[strings.ToUpper(n)]; ok {
			return e, true
		}
	}
	return envEntry{}, false
}

func (m envMap) str(name string) string {
	if e, ok := m[strings.ToUpper(name)]; ok {
		if s, ok := e.value.(string); ok {
			return s
		}
	}
	return ""
}

// readDotEnv parses a .env file: KEY=VALUE lines, optional `export `,
// comments, single quotes (literal) and double quotes (with \n escapes).
// A missing file is an empty source.
func readDotEnv(path string) (envMap, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return envMap{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .env: %w", err)
	}
	m := envMap{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		m[strings.ToUpper(k)] = envEntry{name: k, value: dotEnvValue(strings.TrimSpace(v))}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read .env: %w", err)
	}
	return m, nil
}

func dotEnvValue(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') {
		if end := strings.LastIndexByte(v, v[0]); end > 0 {
			inner := v[1:end]
			if v[0] == '"' {
				inner = strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\"`, `"`, `\\`, `\`).Replace(inner)
			}
			return inner
		}
	}
	// Unquoted values end at an inline " #" comment.
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}

// readTOML decodes a TOML file into nested maps; a missing file is empty.
// The decode error names the file but not its content, which may hold secrets.
func readTOML(path string, table ...string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%s: invalid TOML at line %d column %d", filepath.Base(path), row, col)
		}
		return nil, fmt.Errorf("%s: invalid TOML", filepath.Base(path))
	}
	for _, t := range table {
		next, _ := doc[t].(map[string]any)
		doc = next
	}
	return doc, nil
}

// tomlGet finds d in a nested TOML document: the dotted path first, then
// the setting's env var names as keys in the same table (Prefect honours
// alias keys). A table where a scalar is expected is ignored.
func tomlGet(doc map[string]any, d *Def) (any, string, bool) {
	if doc == nil {
		return nil, "", false
	}
	segs := strings.Split(d.Name, ".")
	if v, ok := tomlPath(doc, segs, d); ok {
		return v, d.Name, true
	}
	table, ok := tomlTable(doc, segs[:len(segs)-1])
	if ok {
		for _, alias := range d.Env {
			if v, key, ok := getFold(table, alias); ok && usable(v, d) {
				return v, strings.Join(append(segs[:len(segs)-1:len(segs)-1], key), "."), true
			}
		}
	}
	// The docs spell the UI's API URL as [ui] api_url.
	if d.Name == "server.ui.api_url" {
		if v, ok := tomlPath(doc, []string{"ui", "api_url"}, d); ok {
			return v, "ui.api_url", true
		}
	}
	return nil, "", false
}

func tomlPath(doc map[string]any, segs []string, d *Def) (any, bool) {
	table, ok := tomlTable(doc, segs[:len(segs)-1])
	if !ok {
		return nil, false
	}
	v, _, ok := getFold(table, segs[len(segs)-1])
	return v, ok && usable(v, d)
}

func tomlTable(doc map[string]any, segs []string) (map[string]any, bool) {
	for _, s := range segs {
		v, _, ok := getFold(doc, s)
		if !ok {
			return nil, false
		}
		if doc, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return doc, true
}

func getFold(m map[string]any, key string) (any, string, bool) {
	if v, ok := m[key]; ok {
		return v, key, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, k, true
		}
	}
	return nil, "", false
}

func usable(v any, d *Def) bool {
	_, isTable := v.(map[string]any)
	return !isTable || d.Kind == KindDict || d.Kind == KindAny
}

// tomlScalar converts values go-toml decodes into the loader's types:
// local dates/times become their TOML text.
func tomlScalar(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return fmt.Sprint(x)
	}
	return v
}
