package api

import (
	"net/url"
	"slices"
)

// socketOptions are the AcceptOptions every websocket route starts from.
//
// Browsers send Origin on websocket upgrades and, unlike fetch, get no CORS
// check, so a page on any site could open a socket to a server without an
// auth string. Warden applies the CORS origin list to upgrades too: with
// Prefect's default ("*") any origin is accepted, exactly as Prefect does;
// with a restricted list only those origins (and same-host pages) may
// connect. Clients that send no Origin (every Prefect SDK client) are never
// affected.
func (a *app) socketOptions() AcceptOptions {
	return AcceptOptions{
		AuthString:     a.settings.AuthString,
		Logger:         a.logger,
		OriginPatterns: originPatterns(a.settings.CORSAllowedOrigins),
	}
}

// originPatterns turns CORS origins ("https://ui.example.com:8443") into
// coder/websocket host patterns ("ui.example.com:8443"); "*" allows all.
func originPatterns(origins []string) []string {
	if len(origins) == 0 || slices.Contains(origins, "*") {
		return []string{"*"}
	}
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}
