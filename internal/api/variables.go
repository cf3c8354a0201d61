package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// variableNameRE is Prefect's VariableName rule (after the length check).
var variableNameRE = regexp.MustCompile(`^[a-z0-9-_]*$`)

var errVariableNotFound = errDetail(http.StatusNotFound, "Variable not found.")

// variableBody is the create/update body. Fields are raw so an explicit
// "value": null can be told apart from an absent value.
type variableBody struct {
	Name  *string         `json:"name"`
	Value json.RawMessage `json:"value"`
	Tags  *[]string       `json:"tags"`
}

// checkVariableName applies Prefect's VariableName: at most 255 characters,
// then lowercase letters, digits, dashes and underscores only.
func (a *app) variableRoutes(route route) {
	route("POST", "/variables/{$}", a.variableCreate)
	route("POST", "/variables/filter", a.variableFilter)
	route("POST", "/variables/count", a.variableCount)
	route("GET", "/variables/name/{name}", a.variableGetByName)
	route("PATCH", "/variables/name/{name}", a.variableUpdateByName)
	route("DELETE", "/variables/name/{name}", a.variableDeleteByName)
	route("GET", "/variables/{id}", a.variableGet)
	route("PATCH", "/variables/{id}", a.variableUpdate)
	route("DELETE", "/variables/{id}", a.variableDelete)
}

func checkVariableName(raw []byte, name string) error {
	if n := utf8.RuneCountInString(name); n > apitype.VariableNameMaxLength {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "string_too_long", Input: name,
			Msg: fmt.Sprintf("String should have at most %d characters", apitype.VariableNameMaxLength),
			Ctx: map[string]any{"max_length": apitype.VariableNameMaxLength},
		})
	}
	if !variableNameRE.MatchString(name) {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "value_error", Input: name,
			Msg: "Value error, Variable name must only contain lowercase letters, numbers, and dashes or underscores.",
			Ctx: map[string]any{"error": "Variable name must only contain lowercase letters, numbers, and dashes or underscores."},
		})
	}
	return nil
}

// checkVariableValue applies Prefect's StrictVariableValue: a non-null value
// serialised compactly must stay within 5000 characters. It returns the
// compact form that is stored.
func checkVariableValue(raw []byte, value json.RawMessage) (json.RawMessage, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, value); err != nil {
		return nil, fmt.Errorf("compact variable value: %w", err)
	}
	if compact.String() != "null" && serialisedLength(value) > apitype.VariableValueMaxLength {
		msg := fmt.Sprintf("Variable value must be less than %d characters", apitype.VariableValueMaxLength)
		return nil, errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "value"}, Type: "value_error", Msg: "Value error, " + msg,
			Ctx: map[string]any{"error": msg},
		})
	}
	return compact.Bytes(), nil
}

// serialisedLength counts the bytes of the compact serialisation Prefect
// measures (orjson: UTF-8, no escapes for non-ASCII text).
func serialisedLength(value json.RawMessage) int {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return len(value)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return len(value)
	}
	return out.Len() - 1 // Encode appends a newline
}

func presentVariable(v *apitype.Variable) *apitype.Variable {
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if len(v.Value) == 0 {
		v.Value = json.RawMessage("null")
	}
	return v
}

func (a *app) variableCreate(w http.ResponseWriter, r *http.Request) error {
	var body variableBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.Name == nil {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "name"}, Type: "missing", Msg: "Field required", Input: echoBody(raw),
		})
	}
	if err := checkVariableName(raw, *body.Name); err != nil {
		return err
	}
	if body.Value == nil {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "value"}, Type: "missing", Msg: "Field required", Input: echoBody(raw),
		})
	}
	value, err := checkVariableValue(raw, body.Value)
	if err != nil {
		return err
	}
	var tags []string
	if body.Tags != nil {
		tags = *body.Tags
	}
	v, err := a.store.VariableCreate(r.Context(), &storage.VariableCreateParams{
		ID: uuid.New(), Name: *body.Name, Value: value, Tags: tags, Now: a.now().UTC(),
	})
	if errors.Is(err, storage.ErrConflict) {
		return errDetail(http.StatusConflict, fmt.Sprintf("A variable with the name '%s' already exists.", *body.Name))
	}
	if err != nil {
		return fmt.Errorf("create variable: %w", err)
	}
	writeJSON(w, http.StatusCreated, presentVariable(v))
	return nil
}

// decodeVariableUpdate validates a PATCH body into the storage update.
func decodeVariableUpdate(r *http.Request) (*apitype.VariableUpdate, error) {
	var body variableBody
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return nil, err
	}
	var u apitype.VariableUpdate
	if body.Name != nil {
		if err := checkVariableName(raw, *body.Name); err != nil {
			return nil, err
		}
		u.Name = body.Name
	}
	if body.Value != nil { // present, possibly an explicit null
		value, err := checkVariableValue(raw, body.Value)
		if err != nil {
			return nil, err
		}
		u.Value = &value
	}
	u.Tags = body.Tags
	return &u, nil
}

func (a *app) variableGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	v, err := a.store.VariableGet(r.Context(), id)
	return a.writeVariable(w, v, err)
}

func (a *app) variableGetByName(w http.ResponseWriter, r *http.Request) error {
	v, err := a.store.VariableGetByName(r.Context(), r.PathValue("name"))
	return a.writeVariable(w, v, err)
}

func (a *app) writeVariable(w http.ResponseWriter, v *apitype.Variable, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errVariableNotFound
	}
	if err != nil {
		return fmt.Errorf("read variable: %w", err)
	}
	writeJSON(w, http.StatusOK, presentVariable(v))
	return nil
}

func (a *app) variableUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	u, err := decodeVariableUpdate(r)
	if err != nil {
		return err
	}
	return variableWritten(w, a.store.VariableUpdate(r.Context(), id, u, a.now().UTC()))
}

func (a *app) variableUpdateByName(w http.ResponseWriter, r *http.Request) error {
	u, err := decodeVariableUpdate(r)
	if err != nil {
		return err
	}
	return variableWritten(w, a.store.VariableUpdateByName(r.Context(), r.PathValue("name"), u, a.now().UTC()))
}

func (a *app) variableDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	return variableWritten(w, a.store.VariableDelete(r.Context(), id))
}

func (a *app) variableDeleteByName(w http.ResponseWriter, r *http.Request) error {
	return variableWritten(w, a.store.VariableDeleteByName(r.Context(), r.PathValue("name")))
}

// variableWritten answers a PATCH or DELETE. A rename onto a taken name is
// ErrConflict, which writeError turns into Prefect's integrity 409.
func variableWritten(w http.ResponseWriter, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errVariableNotFound
	}
	if err != nil {
		return fmt.Errorf("write variable: %w", err)
	}
	writeNoContent(w)
	return nil
}

// variableQuery is the body of /variables/filter and /variables/count.
type variableQuery struct {
	Variables *apitype.VariableFilter `json:"variables"`
	Sort      *string                 `json:"sort"`
	Limit     *int                    `json:"limit"`
	Offset    *int                    `json:"offset"`
}

func (a *app) variableFilter(w http.ResponseWriter, r *http.Request) error {
	var q variableQuery
	raw, err := decodeBody(r, &q, true)
	if err != nil {
		return err
	}
	sort := apitype.VariableSortNameAsc
	if q.Sort != nil {
		sort = *q.Sort
		if err := checkEnum(raw, "sort", sort, apitype.VariableSortCreatedDesc,
			apitype.VariableSortUpdatedDesc, apitype.VariableSortNameDesc, apitype.VariableSortNameAsc); err != nil {
			return err
		}
	}
	win, err := a.listWindow(raw, q.Limit, q.Offset)
	if err != nil {
		return err
	}
	if win.empty() {
		writeJSON(w, http.StatusOK, []apitype.Variable{})
		return nil
	}
	vars, err := a.store.VariableList(r.Context(), &storage.VariableListParams{
		Filter: q.Variables, Sort: sort, Limit: win.limit, Offset: win.offset,
	})
	if err != nil {
		return fmt.Errorf("list variables: %w", err)
	}
	out := make([]*apitype.Variable, len(vars))
	for i := range vars {
		out[i] = presentVariable(&vars[i])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) variableCount(w http.ResponseWriter, r *http.Request) error {
	var q variableQuery
	if _, err := decodeBody(r, &q, true); err != nil {
		return err
	}
	n, err := a.store.VariableCount(r.Context(), q.Variables)
	if err != nil {
		return fmt.Errorf("count variables: %w", err)
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}
