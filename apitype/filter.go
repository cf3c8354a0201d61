package apitype

import "github.com/google/uuid"

// Operator combines the criteria of one filter object: "and_" (default) or "or_".
type Operator string

const (
	OperatorAnd Operator = "and_"
	OperatorOr  Operator = "or_"
)

// FilterID is the `{any_, not_any_}` criterion on an id column.
type FilterID struct {
	Any    []uuid.UUID `json:"any_,omitempty"`
	NotAny []uuid.UUID `json:"not_any_,omitempty"`
}

// FilterName is the `{any_, like_}` criterion on a name column. like_ is a
// case-insensitive substring match.
type FilterName struct {
	Any  []string `json:"any_,omitempty"`
	Like *string  `json:"like_,omitempty"`
}

// FilterTags is the `{all_, is_null_}` criterion on a tags column: all_ means
// the row carries every listed tag; is_null_ true means no tags at all.
type FilterTags struct {
	Operator Operator `json:"operator,omitempty"`
	All      []string `json:"all_,omitempty"`
	IsNull   *bool    `json:"is_null_,omitempty"`
}
