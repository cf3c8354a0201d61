package settings

//go:generate go run ./internal/gen -schema ../../../shared/reference/prefect-settings.schema.json -out registry_gen.go

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Kind is how a setting's raw value (an env string or a TOML value) is parsed.
type Kind int

const (
	KindString     Kind = iota // any string
	KindPath                   // string; "~" and "$PREFECT_HOME" are expanded
	KindInt                    // integer
	KindFloat                  // number
	KindBool                   // true/false, 1/0, yes/no, on/off, t/f, y/n
	KindDuration               // ISO-8601 (PT1H, P7D) or seconds
	KindDict                   // JSON object (env) or TOML table; values per Def.Elem
	KindStringList             // comma list, JSON array or TOML array of strings
	KindIntSet                 // comma list, JSON array or TOML array of integers
	KindAny                    // JSON if it parses, else the raw string
)

var kindNames = [...]string{"string", "path", "int", "float", "bool", "duration", "dict", "string list", "int set", "any"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Def describes one setting. Env lists its environment variable names in
// precedence order: the canonical name first, then legacy aliases.
type Def struct {
	Name         string // dotted path, e.g. "server.api.auth_string"
	Env          []string
	Kind         Kind
	Elem         Kind   // value kind of a KindDict
	Default      string // JSON literal; "null" when unset
	Nullable     bool
	Secret       bool // never shown, logged or echoed in errors
	Enum         []string
	Min, Max     *float64 // inclusive bounds (Min exclusive with ExclusiveMin)
	ExclusiveMin bool
	Description  string
}

// EnvVar is the canonical environment variable name, as `config view` prints it.
func (d *Def) EnvVar() string { return d.Env[0] }

func bound(v float64) *float64 { return &v }

// wardenDefs are Warden's own settings, loaded from the same sources as
// Prefect's under the warden.* namespace.
var wardenDefs = []Def{
	{Name: "warden.server.max_request_body", Env: []string{"WARDEN_SERVER_MAX_REQUEST_BODY"}, Kind: KindInt, Default: "16777216", Min: bound(1),
		Description: "Maximum request body size in bytes; larger requests get 413."},
	{Name: "warden.log_format", Env: []string{"WARDEN_LOG_FORMAT"}, Kind: KindString, Default: `"text"`, Enum: []string{"text", "json"},
		Description: "Server log format: text or json."},
	{Name: "warden.prefect_version", Env: []string{"WARDEN_PREFECT_VERSION"}, Kind: KindString, Default: `"3.9.1"`,
		Description: "The Prefect version /api/admin/version reports."},
}

var (
	allDefs  []*Def
	byName   = map[string]*Def{}
	byEnvVar = map[string]*Def{} // upper-cased env name (canonical or alias)
)

func init() {
	for _, group := range [][]Def{prefectDefs, wardenDefs} {
		for i := range group {
			d := &group[i]
			if !json.Valid([]byte(d.Default)) {
				panic("settings: invalid default for " + d.Name)
			}
			allDefs = append(allDefs, d)
			byName[d.Name] = d
			for _, e := range d.Env {
				byEnvVar[strings.ToUpper(e)] = d
			}
		}
	}
}

// Defs returns every known setting in schema order (Warden's last).
func Defs() []*Def { return allDefs }

// Lookup finds a setting by dotted name or by any of its env var names
// (case-insensitive), as `config set`/`unset` accept them.
func Lookup(name string) (*Def, bool) {
	if d, ok := byName[strings.ToLower(name)]; ok {
		return d, true
	}
	d, ok := byEnvVar[strings.ToUpper(name)]
	return d, ok
}

// Validate parses raw as a value of d, for checking input before it is
// written to a profile. The error names the setting and never echoes a
// secret value.
func (d *Def) Validate(raw string) error {
	_, err := d.parse(raw, Source{Kind: sourceInput})
	return err
}
