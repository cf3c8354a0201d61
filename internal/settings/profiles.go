package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// DefaultProfilesTOML is Prefect's built-in profiles template
// (prefect/settings/profiles.toml), used when no profiles file exists.
const DefaultProfilesTOML = `active = "ephemeral"

[profiles.ephemeral]
PREFECT_SERVER_EPHEMERAL_ENABLED = "true"

[profiles.local]
PREFECT_API_URL = "http://127.0.0.1:4200/api"

[profiles.test]
PREFECT_SERVER_EPHEMERAL_ENABLED = "true"
PREFECT_SERVER_DATABASE_CONNECTION_URL = "sqlite+aiosqlite:///:memory:"

[profiles.cloud]
`

// DefaultProfile is the profile used when nothing selects one.
const DefaultProfile = "ephemeral"

// Profiles is a profiles.toml document. Other top-level keys and unknown
// profile keys survive a read/Save round trip (comments do not).
type Profiles struct {
	Path   string // where Save writes
	Exists bool   // the file existed when read
	doc    map[string]any
}

// ReadProfiles reads a profiles file; a missing file yields Prefect's
// built-in template (with Exists false).
func ReadProfiles(path string) (*Profiles, error) {
	data, err := os.ReadFile(path)
	exists := err == nil
	if errors.Is(err, fs.ErrNotExist) {
		data, err = []byte(DefaultProfilesTOML), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("profiles file %s: invalid TOML", path)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return &Profiles{Path: path, Exists: exists, doc: doc}, nil
}

func builtinProfiles() *Profiles {
	p, err := ReadProfiles("")
	if err != nil {
		panic(err) // the template is a constant
	}
	return p
}

// Active is the file's `active` key ("" when absent).
func (p *Profiles) Active() string {
	s, _ := p.doc["active"].(string)
	return s
}

// SetActive sets the file's `active` key.
func (p *Profiles) SetActive(name string) { p.doc["active"] = name }

func (p *Profiles) table() map[string]any {
	t, _ := p.doc["profiles"].(map[string]any)
	if t == nil {
		t = map[string]any{}
		p.doc["profiles"] = t
	}
	return t
}

// Names lists the profiles, sorted.
func (p *Profiles) Names() []string {
	var names []string
	for n := range p.table() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns a profile's settings (env var name → value), and whether it exists.
func (p *Profiles) Get(name string) (map[string]any, bool) {
	v, ok := p.table()[name]
	if !ok {
		return nil, false
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, true
}

// Set replaces (or creates) a profile.
func (p *Profiles) Set(name string, values map[string]any) {
	if values == nil {
		values = map[string]any{}
	}
	p.table()[name] = values
}

// Delete removes a profile, reporting whether it existed.
func (p *Profiles) Delete(name string) bool {
	t := p.table()
	_, ok := t[name]
	delete(t, name)
	return ok
}

// AddBuiltins adds Prefect's built-in profiles missing from the file, as
// Prefect's load_profiles(include_defaults=True) does.
func (p *Profiles) AddBuiltins() {
	b := builtinProfiles()
	for _, n := range b.Names() {
		if _, ok := p.Get(n); !ok {
			v, _ := b.Get(n)
			p.Set(n, v)
		}
	}
}

// Save writes the file with mode 0600, creating its directory with 0700:
// profiles may hold secrets in plaintext.
func (p *Profiles) Save() error {
	if err := os.MkdirAll(filepath.Dir(p.Path), 0o700); err != nil {
		return fmt.Errorf("create profiles dir: %w", err)
	}
	data, err := toml.Marshal(p.doc)
	if err != nil {
		return fmt.Errorf("encode profiles: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.Path), ".profiles-*.toml")
	if err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write profiles: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write profiles: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.Path); err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	p.Exists = true
	return nil
}

// ProfileKey finds d's key in a profile: the first of its env var names
// present (case-insensitive), canonical first.
func ProfileKey(values map[string]any, d *Def) (string, bool) {
	for _, n := range d.Env {
		for k := range values {
			if strings.EqualFold(k, n) {
				return k, true
			}
		}
	}
	return "", false
}

// ProfileSelection is the resolved profiles file and active profile name
// for an invocation.
type ProfileSelection struct {
	Profiles *Profiles
	Active   string
	Exists   bool   // Active names a profile of the file or a built-in one
	By       string // what chose it: "--profile", "PREFECT_PROFILE", "profiles.toml", "default"
	TestMode bool   // profiles are ignored (PREFECT_TEST_MODE and friends)
}

// OpenProfiles resolves the profiles file and active profile as Load does,
// without parsing any setting, so `profile` and `config set` commands work
// even when a stored value is invalid. It does not fail on an unknown
// profile name; Load does.
func OpenProfiles(opts LoadOptions) (*ProfileSelection, error) {
	src, err := readSources(opts)
	if err != nil {
		return nil, err
	}
	return src.selectProfile(opts)
}

func (src *sources) selectProfile(opts LoadOptions) (*ProfileSelection, error) {
	// In test mode Load ignores the profile's values, as Prefect does; the
	// real file is still read so `config set` never overwrites it with the
	// template.
	sel := &ProfileSelection{TestMode: src.testMode()}
	p, err := ReadProfiles(src.profilesPath())
	if err != nil {
		return nil, err
	}
	sel.Profiles = p
	switch {
	case opts.Profile != "":
		sel.Active, sel.By = opts.Profile, "--profile"
	case src.env.str("PREFECT_PROFILE") != "":
		sel.Active, sel.By = src.env.str("PREFECT_PROFILE"), "PREFECT_PROFILE"
	case sel.Profiles.Active() != "":
		sel.Active, sel.By = sel.Profiles.Active(), "profiles.toml"
	default:
		sel.Active, sel.By = DefaultProfile, "default"
	}
	_, inFile := sel.Profiles.Get(sel.Active)
	_, builtin := builtinProfiles().Get(sel.Active)
	sel.Exists = inFile || builtin
	return sel, nil
}

// values returns the active profile's settings: the file's, else the
// built-in profile of that name.
func (sel *ProfileSelection) values() map[string]any {
	if v, ok := sel.Profiles.Get(sel.Active); ok {
		return v
	}
	v, _ := builtinProfiles().Get(sel.Active)
	return v
}
