package apitype

import "github.com/google/uuid"

// FlowBulkDeleteResponse is the body of POST /flows/bulk_delete.
type FlowBulkDeleteResponse struct {
	Deleted []uuid.UUID `json:"deleted"`
}
