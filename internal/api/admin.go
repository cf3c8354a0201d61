package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

// defaultResultStorageKey is Prefect's configuration key for the server
// default result storage block.
const defaultResultStorageKey = "server-default-result-storage"

func (a *app) adminSettings(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.admin)
	return nil
}

func (a *app) adminVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.settings.PrefectVersion)
	return nil
}

func (a *app) adminStorageRead(w http.ResponseWriter, r *http.Request) error {
	var out apitype.ServerDefaultResultStorage
	raw, err := a.store.ConfigurationGet(r.Context(), defaultResultStorageKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read default result storage: %w", err)
	default:
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("decode default result storage: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// adminStorageUpdate validates the block document before storing it. Block
// documents do not exist in Warden yet, so every id is Prefect's 404.
func (a *app) adminStorageUpdate(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID *uuid.UUID `json:"default_result_storage_block_id"`
	}
	raw, err := decodeBody(r, &body, false)
	if err != nil {
		return err
	}
	if body.ID == nil {
		return errValidation(echoBody(raw), ValidationDetail{
			Loc: []any{"body", "default_result_storage_block_id"}, Type: "missing",
			Msg: "Field required", Input: echoBody(raw),
		})
	}
	return errDetail(http.StatusNotFound, fmt.Sprintf("Block document %s not found.", body.ID))
}

func (a *app) adminStorageClear(w http.ResponseWriter, r *http.Request) error {
	err := a.store.ConfigurationDelete(r.Context(), defaultResultStorageKey)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("clear default result storage: %w", err)
	}
	writeNoContent(w)
	return nil
}
