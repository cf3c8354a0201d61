package ui

import (
	"net/http"
	"strings"
)

// Mount sends the UI's requests to ui and everything else to api: a path
// belongs to the UI when it is under serveBase but neither the API (apiBase
// and below) nor /ui-settings, which the API handler serves. serveBase and
// apiBase are normalised settings values ("/" or "/prefect"; "/api").
func Mount(api, ui http.Handler, serveBase, apiBase string) http.Handler {
	base := strings.TrimRight(serveBase, "/")
	apiBase = strings.TrimRight(apiBase, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if owns(r.URL.Path, base, apiBase) {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func owns(p, base, apiBase string) bool {
	if apiBase != "" && (p == apiBase || strings.HasPrefix(p, apiBase+"/")) {
		return false
	}
	if p == "/ui-settings" || p == base+"/ui-settings" {
		return false
	}
	return base == "" || p == base || strings.HasPrefix(p, base+"/")
}
