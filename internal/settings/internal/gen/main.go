// Command gen turns Prefect's settings JSON schema into registry_gen.go, the
// table of every Prefect setting Warden understands. Run it through
// `go generate ./internal/settings` after updating the schema.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"sort"
	"strings"
)

// factoryDefaults fills in settings whose Prefect default is computed by a
// default_factory (so the schema has no "default"). Paths keep the
// $PREFECT_HOME template; the loader expands it like Prefect's post-hoc
// validator does.
var factoryDefaults = map[string]string{
	"profiles_path":              `"$PREFECT_HOME/profiles.toml"`,
	"server.memo_store_path":     `"$PREFECT_HOME/memo_store.toml"`,
	"logging.config_path":        `"$PREFECT_HOME/logging.yml"`,
	"results.local_storage_path": `"$PREFECT_HOME/storage"`,
	"client.custom_headers":      `{}`,
}

type schema struct {
	Type                 string            `json:"type"`
	Format               string            `json:"format"`
	WriteOnly            bool              `json:"writeOnly"`
	Ref                  string            `json:"$ref"`
	AnyOf                []schema          `json:"anyOf"`
	Items                *schema           `json:"items"`
	AdditionalProperties *schema           `json:"additionalProperties"`
	Enum                 []string          `json:"enum"`
	Minimum              *float64          `json:"minimum"`
	Maximum              *float64          `json:"maximum"`
	ExclusiveMinimum     *float64          `json:"exclusiveMinimum"`
	Default              json.RawMessage   `json:"default"`
	Description          string            `json:"description"`
	Env                  []string          `json:"supported_environment_variables"`
	Properties           map[string]schema `json:"properties"`
	Defs                 map[string]schema `json:"$defs"`
	order                []string
}

// propertyOrder recovers the key order of every "properties" object, which
// encoding/json's map decoding loses; the registry follows schema order.
func propertyOrder(raw []byte) (map[string][]string, error) {
	// Keyed by the JSON pointer-ish path of the object holding "properties".
	out := map[string][]string{}
	var walk func(path string, msg json.RawMessage) error
	walk = func(path string, msg json.RawMessage) error {
		dec := json.NewDecoder(bytes.NewReader(msg))
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return nil
		}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return err
			}
			key := keyTok.(string)
			var val json.RawMessage
			if err := dec.Decode(&val); err != nil {
				return err
			}
			if key == "properties" || key == "$defs" {
				keys, err := objectKeys(val)
				if err != nil {
					return err
				}
				out[path+"/"+key] = keys
				var m map[string]json.RawMessage
				if err := json.Unmarshal(val, &m); err != nil {
					return err
				}
				for _, k := range keys {
					if err := walk(path+"/"+key+"/"+k, m[k]); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return out, walk("", raw)
}

func objectKeys(msg json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(msg))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

type entry struct {
	name, kind, elem, def, desc string
	env                         []string
	nullable, secret            bool
	enum                        []string
	min, max                    *float64
	exclusiveMin                bool
}

func main() {
	schemaPath := flag.String("schema", "", "path to prefect-settings.schema.json")
	out := flag.String("out", "registry_gen.go", "output Go file")
	flag.Parse()
	if *schemaPath == "" {
		log.Fatal("gen: -schema is required")
	}
	raw, err := os.ReadFile(*schemaPath)
	if err != nil {
		log.Fatal(err)
	}
	var root schema
	if err := json.Unmarshal(raw, &root); err != nil {
		log.Fatalf("gen: parse schema: %v", err)
	}
	order, err := propertyOrder(raw)
	if err != nil {
		log.Fatalf("gen: key order: %v", err)
	}

	var entries []entry
	var walk func(s schema, orderKey string, path []string)
	walk = func(s schema, orderKey string, path []string) {
		keys := order[orderKey]
		if len(keys) != len(s.Properties) {
			keys = keys[:0]
			for k := range s.Properties {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
		for _, k := range keys {
			p := s.Properties[k]
			name := append(append([]string{}, path...), k)
			if p.Ref != "" {
				defName := strings.TrimPrefix(p.Ref, "#/$defs/")
				walk(root.Defs[defName], "/$defs/"+defName+"/properties", name)
				continue
			}
			entries = append(entries, leaf(strings.Join(name, "."), p))
		}
	}
	walk(root, "/properties", nil)

	var b bytes.Buffer
	b.WriteString("// Code generated by internal/settings/internal/gen from prefect-settings.schema.json; DO NOT EDIT.\n\n")
	b.WriteString("package settings\n\n")
	b.WriteString("var prefectDefs = []Def{\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "\t{Name: %q, Env: %#v, Kind: %s", e.name, e.env, e.kind)
		if e.elem != "" {
			fmt.Fprintf(&b, ", Elem: %s", e.elem)
		}
		fmt.Fprintf(&b, ", Default: %q", e.def)
		if e.nullable {
			b.WriteString(", Nullable: true")
		}
		if e.secret {
			b.WriteString(", Secret: true")
		}
		if len(e.enum) > 0 {
			fmt.Fprintf(&b, ", Enum: %#v", e.enum)
		}
		if e.min != nil {
			fmt.Fprintf(&b, ", Min: bound(%v)", *e.min)
		}
		if e.exclusiveMin {
			b.WriteString(", ExclusiveMin: true")
		}
		if e.max != nil {
			fmt.Fprintf(&b, ", Max: bound(%v)", *e.max)
		}
		fmt.Fprintf(&b, ", Description: %q},\n", e.desc)
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("gen: format: %v", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func leaf(name string, p schema) entry {
	e := entry{name: name, env: p.Env, def: "null", desc: shortDescription(p.Description)}
	if len(p.Default) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, p.Default); err != nil {
			log.Fatalf("gen: %s default: %v", name, err)
		}
		e.def = compact.String()
	}
	if d, ok := factoryDefaults[name]; ok {
		e.def = d
	}
	alts := []schema{p}
	if len(p.AnyOf) > 0 {
		alts = alts[:0]
		for _, a := range p.AnyOf {
			if a.Type == "null" {
				e.nullable = true
				continue
			}
			alts = append(alts, a)
		}
	}
	if len(alts) == 1 {
		a := alts[0]
		e.kind, e.elem = kindOf(name, a)
		e.secret = a.Format == "password" || a.WriteOnly
		e.enum = a.Enum
		e.min, e.max = a.Minimum, a.Maximum
		if a.ExclusiveMinimum != nil {
			e.min, e.exclusiveMin = a.ExclusiveMinimum, true
		}
		return e
	}
	// Unions. A set of HTTP codes (string "429,502", one int, or a list)
	// and string lists get their own kinds; anything else keeps its JSON.
	e.kind = "KindAny"
	for _, a := range alts {
		if a.Type == "array" && a.Items != nil {
			switch a.Items.Type {
			case "integer":
				e.kind = "KindIntSet"
				e.min, e.max = a.Items.Minimum, a.Items.Maximum
			case "string":
				if allTypes(alts, "array", "string") {
					e.kind = "KindStringList"
				}
			}
		}
	}
	return e
}

func allTypes(alts []schema, types ...string) bool {
	for _, a := range alts {
		ok := false
		for _, t := range types {
			ok = ok || a.Type == t
		}
		if !ok {
			return false
		}
	}
	return true
}

func kindOf(name string, a schema) (kind, elem string) {
	switch a.Type {
	case "boolean":
		return "KindBool", ""
	case "integer":
		return "KindInt", ""
	case "number":
		return "KindFloat", ""
	case "string":
		switch a.Format {
		case "duration":
			return "KindDuration", ""
		case "path":
			return "KindPath", ""
		}
		return "KindString", ""
	case "object":
		elem = "KindAny"
		if ap := a.AdditionalProperties; ap != nil && ap.Type == "string" {
			elem = "KindString"
			if ap.Format == "duration" {
				elem = "KindDuration"
			}
		}
		return "KindDict", elem
	case "array":
		if a.Items != nil && a.Items.Type == "string" {
			return "KindStringList", ""
		}
		return "KindAny", ""
	case "":
		return "KindAny", ""
	}
	log.Fatalf("gen: %s: unsupported type %q", name, a.Type)
	return "", ""
}

// shortDescription keeps the first sentence: enough for `config view`
// help without copying Prefect's prose wholesale.
func shortDescription(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
