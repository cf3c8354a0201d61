package apitype

// VariableFilterBody is the body of POST /variables/filter and POST
// /variables/count (count ignores Sort, Limit and Offset). Nil Limit means
// the server default.
type VariableFilterBody struct {
	Variables *VariableFilter `json:"variables,omitempty"`
	Sort      string          `json:"sort,omitempty"`
	Limit     *int            `json:"limit,omitempty"`
	Offset    int             `json:"offset,omitempty"`
}
