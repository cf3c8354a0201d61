package api

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Principal is who a request acts as. It is the single place later identity
// kinds (users, API keys, roles) plug in; handlers read it with PrincipalFrom.
type Principal struct {
	// Kind is "auth_string" (the shared server.api.auth_string matched) or
	// "anonymous" (auth is off, or an exempt health probe).
	Kind string
	// Name identifies the actor within Kind. The shared auth string has no
	// identity, so it is empty for both current kinds.
	Name string
}

// Principal kinds.
const (
	PrincipalAuthString = "auth_string"
	PrincipalAnonymous  = "anonymous"
)

type principalKey struct{}

// PrincipalFrom returns the request's principal; ok is false outside the API
// mount (e.g. /ui-settings), where no auth layer runs.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

func withPrincipal(r *http.Request, p Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// basicAuth is Prefect's token_validation: when an auth string is configured
// every API request needs `Authorization: Basic base64(auth_string)`, except
// GET of exactly <base>/health and <base>/ready. Failures are 401
// {"exception_message":"Unauthorized"} without WWW-Authenticate, so browsers
// never pop a native login dialog over the UI.
func (a *app) basicAuth(next http.Handler) http.Handler {
	secret := a.settings.AuthString
	if secret == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, withPrincipal(r, Principal{Kind: PrincipalAnonymous}))
		})
	}
	health, ready := a.base+"/health", a.base+"/ready"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// r.URL.Path comes from the request line, never from Host, and is
		// compared exactly: /api//health or /api/flows/../health do not match.
		if r.Method == http.MethodGet && (r.URL.Path == health || r.URL.Path == ready) {
			next.ServeHTTP(w, withPrincipal(r, Principal{Kind: PrincipalAnonymous}))
			return
		}
		if !checkBasic(r.Header.Get("Authorization"), secret) {
			writeJSON(w, errUnauthorized.Status, errUnauthorized.Body)
			return
		}
		next.ServeHTTP(w, withPrincipal(r, Principal{Kind: PrincipalAuthString}))
	})
}

// checkBasic validates one Authorization header value against secret.
func checkBasic(header, secret string) bool {
	fields := strings.Fields(header)
	if len(fields) != 2 || fields[0] != "Basic" {
		return false
	}
	decoded, ok := decodeBase64(fields[1])
	if !ok || !utf8.Valid(decoded) {
		return false
	}
	return subtle.ConstantTimeCompare(decoded, []byte(secret)) == 1
}

// decodeBase64 decodes standard base64, tolerating missing padding.
func decodeBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	return b, err == nil
}
