package apitype

import (
	"time"

	"github.com/google/uuid"
)

// Flow is Prefect's `Flow` response schema.
type Flow struct {
	ID      uuid.UUID      `json:"id"`
	Created time.Time      `json:"created"`
	Updated time.Time      `json:"updated"`
	Name    string         `json:"name"`
	Tags    []string       `json:"tags"`
	Labels  map[string]any `json:"labels"`
}

// FlowCreate is the body of POST /flows/.
type FlowCreate struct {
	Name   string         `json:"name"`
	Tags   []string       `json:"tags,omitempty"`
	Labels map[string]any `json:"labels,omitempty"`
}

// FlowUpdate is the body of PATCH /flows/{id}. Nil means "leave as is".
type FlowUpdate struct {
	Tags *[]string `json:"tags,omitempty"`
}

// FlowSort values accepted by /flows/filter and /flows/paginate.
const (
	FlowSortCreatedDesc = "CREATED_DESC"
	FlowSortUpdatedDesc = "UPDATED_DESC"
	FlowSortNameAsc     = "NAME_ASC"
	FlowSortNameDesc    = "NAME_DESC"
)

// FlowFilter is Prefect's FlowFilter. Nil criteria are ignored.
type FlowFilter struct {
	Operator   Operator              `json:"operator,omitempty"`
	ID         *FilterID             `json:"id,omitempty"`
	Deployment *FlowFilterDeployment `json:"deployment,omitempty"`
	Name       *FilterName           `json:"name,omitempty"`
	Tags       *FilterTags           `json:"tags,omitempty"`
}

// FlowFilterDeployment filters flows by whether they have deployments.
type FlowFilterDeployment struct {
	Operator Operator `json:"operator,omitempty"`
	IsNull   *bool    `json:"is_null_,omitempty"`
}

// FlowPaginationResponse is the body of POST /flows/paginate.
type FlowPaginationResponse struct {
	Results []Flow `json:"results"`
	Count   int64  `json:"count"`
	Limit   int    `json:"limit"`
	Pages   int64  `json:"pages"`
	Page    int    `json:"page"`
}
