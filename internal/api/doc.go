// Package api is Warden's HTTP surface: Prefect 3's REST API under the
// configured base path (default /api), /ui-settings at the root, every
// security middleware (Basic auth, CSRF, CORS, API-version check, body
// limit) and the websocket acceptor shared by the streaming routes.
//
// router.go lists every route and the complete middleware order; each
// resource keeps its handlers in its own file (flows.go, variables.go, ...).
// Handlers return errors; one writer (errors.go) turns them into Prefect's
// bodies, so the wire shapes live in exactly one place.
package api
