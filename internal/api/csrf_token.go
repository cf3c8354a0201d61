package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/internal/storage"
)

// csrfTokenCreate serves GET /csrf-token?client=: a writing GET, as in
// Prefect. It replaces the client's token (killing the previous one) and
// purges expired tokens in the same transaction.
func (a *app) csrfTokenCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("client") {
		// FastAPI validates the query before the handler runs, so this wins
		// over the "disabled" answer.
		return errValidation(nil, ValidationDetail{
			Loc: []any{"query", "client"}, Type: "missing", Msg: "Field required",
		})
	}
	if !a.settings.CSRFEnabled {
		return errDetail(http.StatusUnprocessableEntity, "CSRF protection is disabled.")
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return fmt.Errorf("generate csrf token: %w", err)
	}
	now := a.now().UTC()
	tok, err := a.store.CSRFTokenUpsert(r.Context(), &storage.CSRFTokenUpsertParams{
		ID:         uuid.New(),
		Client:     q.Get("client"),
		Token:      hex.EncodeToString(secret[:]),
		Expiration: now.Add(a.settings.CSRFExpiration),
		Now:        now,
	})
	if err != nil {
		return fmt.Errorf("upsert csrf token: %w", err)
	}
	writeJSON(w, http.StatusOK, tok)
	return nil
}
