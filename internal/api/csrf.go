package api

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/warden-orchestration/warden/internal/storage"
)

// CSRF header names (Prefect-Csrf-Token / Prefect-Csrf-Client).
const (
	headerCSRFToken  = "Prefect-Csrf-Token"
	headerCSRFClient = "Prefect-Csrf-Client"
)

// csrf is Prefect's CsrfMiddleware: with protection on, every POST, PUT,
// PATCH and DELETE on any path needs a live token for the named client. It
// runs outside CORS and auth, so an unauthenticated write without a token
// gets 403, not 401.
func (a *app) csrf(next http.Handler) http.Handler {
	if !a.settings.CSRFEnabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			next.ServeHTTP(w, r)
			return
		}
		// Presence, not emptiness, is what Prefect tests first: an empty
		// header value falls through to the "Invalid" answer.
		token, hasToken := headerValue(r.Header, headerCSRFToken)
		if !hasToken {
			writeJSON(w, http.StatusForbidden, map[string]any{"detail": "Missing CSRF token."})
			return
		}
		client, hasClient := headerValue(r.Header, headerCSRFClient)
		if !hasClient {
			writeJSON(w, http.StatusForbidden, map[string]any{"detail": "Missing client identifier."})
			return
		}
		stored, err := a.store.CSRFTokenGet(r.Context(), client, a.now().UTC())
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			a.writeError(w, r, err)
			return
		}
		if err != nil || subtle.ConstantTimeCompare([]byte(stored.Token), []byte(token)) != 1 {
			// Prefect hard-codes this header because the response never
			// passes through the CORS layer.
			w.Header().Set("Access-Control-Allow-Origin", "*")
			writeJSON(w, http.StatusForbidden, map[string]any{"detail": "Invalid CSRF token or client identifier."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func headerValue(h http.Header, name string) (string, bool) {
	vs, ok := h[http.CanonicalHeaderKey(name)]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}
