package apitype

// FlowFilterBody is the body of POST /flows/filter and POST /flows/count
// (count ignores Sort, Limit and Offset). Nil Limit means the server default
// (server.api.default_limit).
type FlowFilterBody struct {
	Flows  *FlowFilter `json:"flows,omitempty"`
	Sort   string      `json:"sort,omitempty"`
	Limit  *int        `json:"limit,omitempty"`
	Offset int         `json:"offset,omitempty"`
}
