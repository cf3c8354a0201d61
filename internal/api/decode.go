package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// readBody reads the whole request body; an oversized body surfaces as
// *http.MaxBytesError, which writeError maps to 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// echoBody is the request_body Prefect echoes in a 422: the parsed JSON when
// it parses, the raw text otherwise, null when empty.
func echoBody(raw []byte) any {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return v
}

// decodeBody reads a JSON object body into dst. Unknown fields are ignored
// (Prefect's action models forbid them; being lenient keeps newer clients
// working), but types are strict. An empty body decodes as {} when optional.
// It returns the raw body for later 422s.
func decodeBody(r *http.Request, dst any, optional bool) ([]byte, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONMediaType(ct) {
		// FastAPI does not parse non-JSON bodies, so the model sees a string.
		return raw, errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body"}, Type: "model_attributes_type",
			Msg:   "Input should be a valid dictionary or object to extract fields from",
			Input: string(raw),
		})
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if optional {
			return raw, nil
		}
		return raw, errValidation(nil, ValidationDetail{
			Loc: []any{"body"}, Type: "missing", Msg: "Field required",
		})
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return raw, jsonError(raw, err)
	}
	return raw, nil
}

func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// jsonError translates an encoding/json error into a pydantic-shaped 422.
func jsonError(raw []byte, err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errValidation(string(raw), ValidationDetail{
			Loc: []any{"body", int(syn.Offset)}, Type: "json_invalid", Msg: "JSON decode error",
			Input: map[string]any{}, Ctx: map[string]any{"error": syn.Error()},
		})
	case errors.As(err, &typ):
		loc := []any{"body"}
		if typ.Field != "" {
			for _, f := range strings.Split(typ.Field, ".") {
				loc = append(loc, f)
			}
		}
		kind, msg := typeExpectation(typ.Type)
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: loc, Type: kind, Msg: msg, Input: inputAt(raw, loc[1:]),
		})
	default:
		// Errors from UnmarshalText (e.g. a malformed UUID) carry no field path.
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body"}, Type: "value_error", Msg: "Value error, " + err.Error(),
		})
	}
}

// typeExpectation names the pydantic error for a Go target type.
func typeExpectation(t reflect.Type) (kind, msg string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string_type", "Input should be a valid string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int_type", "Input should be a valid integer"
	case reflect.Float32, reflect.Float64:
		return "float_type", "Input should be a valid number"
	case reflect.Bool:
		return "bool_type", "Input should be a valid boolean"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[uuid.UUID]() {
			return "uuid_type", "UUID input should be a string, bytes or UUID object"
		}
		return "list_type", "Input should be a valid list"
	default:
		return "dict_type", "Input should be a valid dictionary"
	}
}

// inputAt digs the offending value out of the body for the error's input.
func inputAt(raw []byte, path []any) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p.(string)]
	}
	return v
}

// pathUUID parses a {name} path parameter as a UUID; a malformed value is a
// 422 in pydantic's words.
func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	s := r.PathValue(name)
	// Prefect's routes are /{id:uuid}: a segment that is not a UUID does
	// not match the route at all, so the answer is FastAPI's plain 404.
	// Starlette's convertor takes only the hyphenated form, not uuid.Parse's
	// urn:uuid: or braced spellings.
	if !uuidPathRE.MatchString(s) {
		return uuid.Nil, errNotFound
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, errNotFound
	}
	return id, nil
}

var uuidPathRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkLimit applies Prefect's LimitBody rules: absent means the default
// limit, above it or below zero is a 422 with a plain detail.
func (a *app) checkLimit(limit *int) (int, error) {
	def := a.settings.DefaultLimit
	if limit == nil {
		return def, nil
	}
	if *limit < 0 {
		return 0, errDetail(http.StatusUnprocessableEntity, "Invalid limit: must be greater than or equal to 0.")
	}
	if *limit > def {
		return 0, errDetail(http.StatusUnprocessableEntity, fmt.Sprintf("Invalid limit: must be less than or equal to %d.", def))
	}
	return *limit, nil
}

// window is the validated limit and offset of a list body. Storage reads a
// zero Limit as "no limit", so empty() windows (Prefect's limit 0, an empty
// page) must be answered without a query.
type window struct{ limit, offset int }

func (w window) empty() bool { return w.limit == 0 }

// listWindow validates limit (default and cap: server.api.default_limit) and
// offset (>= 0) of a /filter body.
func (a *app) listWindow(raw []byte, limit, offset *int) (window, error) {
	l, err := a.checkLimit(limit)
	if err != nil {
		return window{}, err
	}
	o := 0
	if offset != nil {
		o = *offset
	}
	if err := checkMin(raw, "offset", o, 0); err != nil {
		return window{}, err
	}
	return window{limit: l, offset: o}, nil
}

// pageWindow validates limit and page (>= 1) of a /paginate body.
func (a *app) pageWindow(raw []byte, limit, page *int) (window, int, error) {
	l, err := a.checkLimit(limit)
	if err != nil {
		return window{}, 0, err
	}
	p := 1
	if page != nil {
		p = *page
	}
	if err := checkMin(raw, "page", p, 1); err != nil {
		return window{}, 0, err
	}
	// Past this no page can hold rows, and (p-1)*l must not overflow.
	if err := checkMax(raw, "page", p, maxPage); err != nil {
		return window{}, 0, err
	}
	return window{limit: l, offset: (p - 1) * l}, p, nil
}

// maxPage bounds /paginate's page so its offset stays far from overflow.
const maxPage = 1 << 30

// checkMin is a pydantic ge= constraint on a body field.
func checkMin(raw []byte, field string, v, min int) error {
	if v >= min {
		return nil
	}
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", field}, Type: "greater_than_equal", Input: v,
		Msg: fmt.Sprintf("Input should be greater than or equal to %d", min),
		Ctx: map[string]any{"ge": min},
	})
}

// checkMax is a pydantic le= constraint on a body field.
func checkMax(raw []byte, field string, v, max int) error {
	if v <= max {
		return nil
	}
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", field}, Type: "less_than_equal", Input: v,
		Msg: fmt.Sprintf("Input should be less than or equal to %d", max),
		Ctx: map[string]any{"le": max},
	})
}

// checkEnum is a pydantic enum constraint on a body field.
func checkEnum(raw []byte, field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = "'" + a + "'"
	}
	expected := strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	return errValidation(echoBody(raw), ValidationDetail{
		Loc: []any{"body", field}, Type: "enum", Input: v,
		Msg: "Input should be " + expected, Ctx: map[string]any{"expected": expected},
	})
}

// present reports whether a top-level JSON field is set to something other
// than null, which is how Prefect treats optional filter objects.
func present(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) > 0 && !bytes.Equal(s, []byte("null"))
}

// hasCriteria reports whether a filter object constrains anything. Prefect
// treats a filter with no criteria ({}, {"operator": "or_"}, nested empty
// objects, nulls) as TRUE, so such a filter needs no support to evaluate.
// Anything else, including lists (any_: [] matches nothing), is a criterion.
func hasCriteria(raw json.RawMessage) bool {
	if !present(raw) {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return true
	}
	for k, v := range obj {
		if k != "operator" && hasCriteria(v) {
			return true
		}
	}
	return false
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
