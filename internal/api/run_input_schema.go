package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// runInputSchemaURL names the stored schema inside the compiler; nothing is
// ever fetched from it.
const runInputSchemaURL = "urn:warden:run-input-schema"

// validateRunInput validates input against the JSON schema stored for a
// paused run (Draft 2020-12 after Prefect's preprocessing) and returns
// Prefect's rejection reason, or "" when it is valid. References resolve
// only within the schema: the compiler loads nothing, so a stored schema
// cannot make the server read files or URLs.
func validateRunInput(schemaText string, input json.RawMessage) string {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schemaText))
	if err != nil {
		return "Run input schema is not valid JSON."
	}
	schema, ok := doc.(map[string]any)
	if !ok {
		return "Reason: Validation failed. Failure reason: the run input schema is not an object"
	}
	preprocessSchema(schema)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(input)))
	if err != nil {
		return "Reason: Validation failed. Failure reason: run input is not valid JSON"
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource(runInputSchemaURL, schema); err != nil {
		return "Reason: Validation failed. Failure reason: " + err.Error()
	}
	compiled, err := c.Compile(runInputSchemaURL)
	if err != nil {
		return "Reason: Validation failed. Failure reason: " + err.Error()
	}
	err = compiled.Validate(inst)
	var verr *jsonschema.ValidationError
	if err == nil || !errors.As(err, &verr) {
		return ""
	}
	leaf := firstLeaf(verr)
	msg := "Validation failed."
	if len(leaf.InstanceLocation) > 0 {
		msg = fmt.Sprintf("Validation failed for field '%s'.", strings.Join(leaf.InstanceLocation, "."))
	}
	return "Reason: " + msg + " Failure reason: " + leafMessage(leaf, inst)
}

// firstLeaf is the first most specific cause, the error Python's jsonschema
// raises first.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

// leafMessage words the common failures as Python's jsonschema does and
// falls back to the Go library's wording.
func leafMessage(e *jsonschema.ValidationError, root any) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		if len(k.Missing) > 0 {
			return fmt.Sprintf("'%s' is a required property", k.Missing[0])
		}
	case *kind.Type:
		// Python jsonschema's wording: "'x' is not of type 'integer'".
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = "'" + w + "'"
		}
		return fmt.Sprintf("%s is not of type %s", pyValueRepr(instanceAt(root, e.InstanceLocation)), strings.Join(want, ", "))
	}
	s := e.Error()
	if i := strings.Index(s, "': "); i >= 0 && strings.HasPrefix(s, "at '") {
		s = s[i+3:]
	}
	return s
}

// preprocessSchema applies Prefect's preprocess_schema: pydantic v1 wrote an
// optional field without a default as a plain type and tuples as "items"
// lists; Draft 2020-12 needs anyOf [type, null] and prefixItems.
func preprocessSchema(schema map[string]any) {
	if props, ok := schema["properties"].(map[string]any); ok {
		processProperties(props, requiredOf(schema))
	}
	if defs, ok := schema["definitions"].(map[string]any); ok {
		for _, d := range defs {
			def, ok := d.(map[string]any)
			if !ok {
				continue
			}
			if props, ok := def["properties"].(map[string]any); ok {
				processProperties(props, requiredOf(def))
			}
		}
	}
}

func requiredOf(schema map[string]any) map[string]bool {
	out := map[string]bool{}
	list, _ := schema["required"].([]any)
	for _, r := range list {
		if s, ok := r.(string); ok {
			out[s] = true
		}
	}
	return out
}

func processProperties(props map[string]any, required map[string]bool) {
	for key, p := range props {
		prop, ok := p.(map[string]any)
		if !ok {
			continue
		}
		if typ, has := prop["type"]; has && !required[key] && typ != "null" {
			if _, hasDefault := prop["default"]; !hasDefault {
				prop["anyOf"] = []any{map[string]any{"type": typ}, map[string]any{"type": "null"}}
				delete(prop, "type")
			}
		}
		if items, ok := prop["items"].([]any); ok && len(items) > 0 {
			if _, has := prop["prefixItems"]; !has {
				prop["prefixItems"] = items
				delete(prop, "items")
			}
		}
		if nested, ok := prop["properties"].(map[string]any); ok {
			processProperties(nested, requiredOf(prop))
		}
	}
}

// instanceAt walks a decoded JSON document along a validation error's
// instance location.
func instanceAt(v any, loc []string) any {
	for _, seg := range loc {
		switch c := v.(type) {
		case map[string]any:
			v = c[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// pyValueRepr renders a JSON value as Python's repr does (scalars exactly;
// containers approximately, in JSON form).
func pyValueRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return pyRepr(x)
	case json.Number:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
