package apitype

import "github.com/google/uuid"

// ServerDefaultResultStorage is the body of GET/PUT /admin/storage.
type ServerDefaultResultStorage struct {
	DefaultResultStorageBlockID *uuid.UUID `json:"default_result_storage_block_id"`
}
