package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadOptions are the inputs of one settings load. Nothing is read from the
// real process environment: callers pass it in.
type LoadOptions struct {
	Environ   []string          // process environment, KEY=VALUE
	Dir       string            // working directory (.env, prefect.toml, pyproject.toml)
	Profile   string            // --profile flag; overrides PREFECT_PROFILE
	Overrides map[string]string // dotted name (or env var name) → raw value, highest precedence
}

// Settings is one loaded, validated set of values: every known setting with
// the source it came from.
type Settings struct {
	vals map[string]*Value
	sel  *ProfileSelection
	home string
}

// Value is one setting's value and where it came from.
type Value struct {
	Def    *Def
	Source Source
	Raw    any // as found: a string (env, .env, profile, override) or a TOML value; nil for defaults
	val    any // parsed, paths expanded
}

// sources holds everything read from the environment and the working
// directory before the profile is chosen.
type sources struct {
	dir       string
	env       envMap
	dotenv    envMap
	prefect   map[string]any
	pyproject map[string]any
}

func readSources(opts LoadOptions) (*sources, error) {
	src := &sources{dir: opts.Dir, env: newEnvMap(opts.Environ)}
	var err error
	if src.dotenv, err = readDotEnv(filepath.Join(opts.Dir, ".env")); err != nil {
		return nil, err
	}
	if src.prefect, err = readTOML(filepath.Join(opts.Dir, "prefect.toml")); err != nil {
		return nil, err
	}
	if src.pyproject, err = readTOML(filepath.Join(opts.Dir, "pyproject.toml"), "tool", "prefect"); err != nil {
		return nil, err
	}
	return src, nil
}

// testMode mirrors Prefect's _is_test_mode (process env only). Prefect
// treats any non-empty value as on; Warden treats false-y spellings
// ("false", "0") as off, which is what someone writing them means.
func (src *sources) testMode() bool {
	for _, n := range []string{"PREFECT_TEST_MODE", "PREFECT_UNIT_TEST_MODE", "PREFECT_TESTING_UNIT_TEST_MODE", "PREFECT_TESTING_TEST_MODE"} {
		if v := src.env.str(n); v != "" {
			if b, ok := parseBool(v); !ok || b {
				return true
			}
		}
	}
	return false
}

// preProfile looks d up in the sources above the profile, highest first.
func (src *sources) preProfile(d *Def) (any, Source, bool) {
	if e, ok := src.env.get(d.Env); ok {
		return e.value, Source{Kind: SourceEnv, Key: e.name}, true
	}
	if e, ok := src.dotenv.get(d.Env); ok {
		return e.value, Source{Kind: SourceDotEnv, Key: e.name}, true
	}
	if v, key, ok := tomlGet(src.prefect, d); ok {
		return tomlScalar(v), Source{Kind: SourcePrefectTOML, Key: key}, true
	}
	if v, key, ok := tomlGet(src.pyproject, d); ok {
		return tomlScalar(v), Source{Kind: SourcePyproject, Key: key}, true
	}
	return nil, Source{}, false
}

// userHome is "~" for expansion: HOME from the given environment, so tests
// never depend on the real home directory.
func (src *sources) userHome() string {
	if h := src.env.str("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// expandPath expands a leading "~" and "$PREFECT_HOME" (when home is known)
// and anchors relative paths at the working directory.
func (src *sources) expandPath(p, home string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(src.userHome(), p[1:])
	}
	if home != "" {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "${PREFECT_HOME}", home), "$PREFECT_HOME", home)
	}
	if p != "" && !filepath.IsAbs(p) && src.dir != "" {
		p = filepath.Join(src.dir, p)
	}
	return filepath.Clean(p)
}

// preProfileHome is PREFECT_HOME as known before the profile is read; the
// profiles file lives under it.
func (src *sources) preProfileHome() string {
	raw, _, ok := src.preProfile(byName["home"])
	s, isStr := raw.(string)
	if !ok || !isStr || s == "" {
		s = "~/.prefect"
	}
	return src.expandPath(s, "")
}

// profilesPath follows Prefect's _get_profiles_path: PREFECT_PROFILES_PATH
// from env, .env, prefect.toml or pyproject.toml, else $PREFECT_HOME/profiles.toml.
func (src *sources) profilesPath() string {
	home := src.preProfileHome()
	if raw, _, ok := src.preProfile(byName["profiles_path"]); ok {
		if s, isStr := raw.(string); isStr && s != "" {
			return src.expandPath(s, home)
		}
	}
	return filepath.Join(home, "profiles.toml")
}

// Load reads every setting with Prefect's precedence: overrides > env >
// .env > prefect.toml > pyproject.toml > active profile > defaults. The
// first invalid value fails the load with a one-line error.
//
// Unlike Prefect, which warns and falls back to "ephemeral", an unknown
// profile name is an error: silently running with other settings than the
// user asked for is how a server ends up without its auth string.
func Load(opts LoadOptions) (*Settings, error) {
	src, err := readSources(opts)
	if err != nil {
		return nil, err
	}
	sel, err := src.selectProfile(opts)
	if err != nil {
		return nil, err
	}
	prof := envMap{}
	if !sel.TestMode {
		if !sel.Exists {
			return nil, fmt.Errorf("profile %q (from %s) not found in %s", sel.Active, sel.By, sel.Profiles.Path)
		}
		for k, v := range sel.values() {
			prof[strings.ToUpper(k)] = envEntry{name: k, value: v}
		}
	}
	overrides := map[string]envEntry{}
	for k, v := range opts.Overrides {
		d, ok := Lookup(k)
		if !ok {
			return nil, fmt.Errorf("override of unknown setting %q", k)
		}
		overrides[d.Name] = envEntry{name: k, value: v}
	}

	s := &Settings{vals: make(map[string]*Value, len(allDefs)), sel: sel}
	for _, d := range allDefs {
		v := &Value{Def: d}
		raw, from, found := any(nil), Source{}, false
		if e, ok := overrides[d.Name]; ok {
			raw, from, found = e.value, Source{Kind: SourceOverride, Key: e.name}, true
		} else if raw, from, found = src.preProfile(d); found {
		} else if e, ok := prof.get(d.Env); ok {
			raw, from, found = e.value, Source{Kind: SourceProfile, Key: e.name, Profile: sel.Active}, true
		}
		if found {
			v.Raw, v.Source = raw, from
			if v.val, err = d.parse(raw, from); err != nil {
				return nil, err
			}
		} else if v.val, err = d.parseDefault(); err != nil {
			return nil, err
		}
		s.vals[d.Name] = v
	}

	home, _ := s.vals["home"].val.(string)
	s.home = src.expandPath(home, "")
	s.vals["home"].val = s.home
	for _, v := range s.vals {
		if p, ok := v.val.(string); ok && v.Def.Kind == KindPath && v.Def.Name != "home" {
			v.val = src.expandPath(p, s.home)
		}
	}
	// profiles_path reports the file actually used, which was resolved
	// before the profile (and its possible PREFECT_HOME) was read.
	if v := s.vals["profiles_path"]; v.Source.Kind != SourceOverride {
		v.val = sel.Profiles.Path
	}
	return s, nil
}

func (d *Def) parseDefault() (any, error) {
	if d.Default == "null" {
		return nil, nil
	}
	raw, err := decodeJSON(d.Default)
	if err != nil {
		return nil, err
	}
	v, err := d.parse(raw, Source{Kind: SourceDefault})
	if err != nil {
		return nil, fmt.Errorf("settings registry: %w", err)
	}
	return v, nil
}

// ActiveProfile is the name of the profile in effect.
func (s *Settings) ActiveProfile() string { return s.sel.Active }

// ProfilesPath is the profiles file this load used.
func (s *Settings) ProfilesPath() string { return s.sel.Profiles.Path }

// TestMode reports that profiles were ignored because a test-mode variable is set.
func (s *Settings) TestMode() bool { return s.sel.TestMode }

// Get returns a setting's value by dotted name.
func (s *Settings) Get(name string) (Value, bool) {
	v, ok := s.vals[name]
	if !ok {
		return Value{}, false
	}
	return *v, true
}

// IsSet reports that the value came from a source rather than the default.
func (v Value) IsSet() bool { return v.Source.Kind != SourceDefault }

// Parsed is the typed value: string, int64, float64, bool, time.Duration,
// map[string]any, []string, []int, any JSON value, or nil when unset.
func (v Value) Parsed() any { return v.val }

// Values lists settings sorted by canonical env var name: those set by a
// source, plus the defaults when includeDefaults is true.
func (s *Settings) Values(includeDefaults bool) []Value {
	var out []Value
	for _, v := range s.vals {
		if includeDefaults || v.IsSet() {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Def.EnvVar() < out[j].Def.EnvVar() })
	return out
}
