package apitype

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Limits on variables, as Prefect enforces them.
const (
	VariableNameMaxLength  = 255
	VariableValueMaxLength = 5000 // characters of the JSON-serialised value
)

// Variable is Prefect's `Variable` response schema. Value is any JSON value.
type Variable struct {
	ID      uuid.UUID       `json:"id"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	Name    string          `json:"name"`
	Value   json.RawMessage `json:"value"`
	Tags    []string        `json:"tags"`
}

// VariableCreate is the body of POST /variables/.
type VariableCreate struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
	Tags  []string        `json:"tags,omitempty"`
}

// VariableUpdate is the body of PATCH /variables/{id} and /variables/name/{name}.
// Nil fields are left unchanged.
type VariableUpdate struct {
	Name  *string          `json:"name,omitempty"`
	Value *json.RawMessage `json:"value,omitempty"`
	Tags  *[]string        `json:"tags,omitempty"`
}

// VariableSort values.
const (
	VariableSortCreatedDesc = "CREATED_DESC"
	VariableSortUpdatedDesc = "UPDATED_DESC"
	VariableSortNameDesc    = "NAME_DESC"
	VariableSortNameAsc     = "NAME_ASC"
)

// VariableFilter is Prefect's VariableFilter.
type VariableFilter struct {
	Operator Operator          `json:"operator,omitempty"`
	ID       *VariableFilterID `json:"id,omitempty"`
	Name     *FilterName       `json:"name,omitempty"`
	Tags     *FilterTags       `json:"tags,omitempty"`
}

// VariableFilterID only has any_ in Prefect's schema.
type VariableFilterID struct {
	Any []uuid.UUID `json:"any_,omitempty"`
}
