package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/warden-orchestration/warden/internal/events"
	"github.com/warden-orchestration/warden/internal/runstate"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/storage"
	"github.com/warden-orchestration/warden/internal/taskqueue"
)

// Deps is everything the HTTP layer needs; the server wires it by hand.
type Deps struct {
	Settings settings.Server
	Store    storage.Store
	Logger   *slog.Logger
	Now      func() time.Time // nil → time.Now
	Version  string           // Warden's own version, sent as X-Warden-Version
	// AdminSettings is the masked settings tree served by GET /admin/settings
	// (settings.(*Settings).AdminJSON()); nil serves {}.
	AdminSettings map[string]any
	// Events is the event pipeline (bus + persister). nil starts a default
	// in-process one over Store that is never closed: the server should
	// start its own (events.Start) and Close it before closing the store.
	Events *events.Service
	// Logs carries stored logs to /logs/out; nil uses an in-process bus.
	Logs events.LogBus
	// UIMounted reports the web UI is served at settings.UIServeBase, which
	// /ui-settings announces as Prefect's "v1" (classic Vue) UI.
	UIMounted bool
}

// app carries the dependencies of every handler and middleware.
type app struct {
	settings settings.Server
	store    storage.Store
	logger   *slog.Logger
	now      func() time.Time
	version  string
	admin    map[string]any
	events   *events.Service
	logs     events.LogBus
	machine  *runstate.Machine // applies orchestration to runs
	base     string            // API mount path, e.g. "/api"
	ui       bool              // the web UI is mounted
}

// NewHandler builds the whole application: the API under the configured base
// path plus /ui-settings at the root.
func NewHandler(d Deps) (http.Handler, error) {
	if d.Store == nil {
		return nil, errors.New("api: nil store")
	}
	a := &app{
		settings: d.Settings,
		store:    d.Store,
		logger:   d.Logger,
		now:      d.Now,
		version:  d.Version,
		admin:    d.AdminSettings,
		ui:       d.UIMounted,
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.admin == nil {
		a.admin = map[string]any{}
	}
	if a.settings.DefaultLimit <= 0 {
		a.settings.DefaultLimit = 200
	}
	base, err := normaliseBase(d.Settings.BasePath)
	if err != nil {
		return nil, err
	}
	a.base = base
	if a.logs = d.Logs; a.logs == nil {
		a.logs = events.NewMemoryLogBus()
	}
	if a.events = d.Events; a.events == nil {
		if a.events, err = events.Start(d.Store, events.Options{Logger: a.logger, TaskRuns: d.Store}); err != nil {
			return nil, err
		}
	}

	a.machine = &runstate.Machine{Store: a.store, Events: a.events.Bus(), Logger: a.logger, Now: a.now, Waits: concurrencyWaits,
		Tasks: taskqueue.New(a.store, taskqueue.Options{Logger: a.logger, Now: a.now})}

	api := http.NewServeMux()
	a.apiRoutes(api)
	ws := http.NewServeMux()
	a.websocketRoutes(ws)
	root := http.NewServeMux()
	a.rootRoutes(root)

	// Inside the mount, innermost last: routes (each checking
	// X-PREFECT-API-VERSION once matched, see apiRoutes) ← body limit ←
	// default content type ← Basic auth. Websocket upgrades to websocket
	// routes skip this chain: they authenticate in-band (AcceptPrefectSocket).
	var inner http.Handler = a.dispatch(api)
	inner = a.bodyLimit(inner)
	inner = defaultContentType(inner)
	inner = a.basicAuth(inner)
	inner = websocketBypass(ws, inner)

	// Outside the mount, outermost first: recover → request log → security
	// headers → CSRF → CORS → [mount at base path].
	var h http.Handler = a.mount(inner, a.dispatch(root))
	h = a.cors(h)
	h = a.csrf(h)
	h = a.securityHeaders(h)
	h = a.requestLog(h)
	h = a.recoverPanics(h)
	return h, nil
}

// getOnly answers HEAD on a GET route with FastAPI's 405: ServeMux lets GET
// patterns serve HEAD, Prefect's API does not.
func getOnly(method string, h http.Handler) http.Handler {
	if method != http.MethodGet {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Allow", "GET")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// route registers one REST handler, relative to the base path.
type route func(method, path string, h handlerFunc)

// routeHook, when set, is told every REST route apiRoutes registers (method
// and ServeMux path relative to the base path). Tests set it before building
// any handler to check that each route's responses are validated against
// Prefect's OpenAPI; it is nil in production.
var routeHook func(method, path string)

// apiRoutes lists every REST route: one line per resource, whose routes sit
// beside its handlers (flowRoutes in flows.go, ...).
func (a *app) apiRoutes(mux *http.ServeMux) {
	// Prefect serves /health and /version from the API app itself, outside
	// the routers that enforce X-PREFECT-API-VERSION, so a probe with a stale
	// header stays healthy. Every other route checks the header once it has
	// matched: an unknown path is a 404 whatever the header says.
	bare := func(method, p string, h handlerFunc) {
		if routeHook != nil {
			routeHook(method, p)
		}
		mux.Handle(method+" "+a.base+p, getOnly(method, a.handle(h)))
	}
	bare("GET", "/health", a.health)
	bare("GET", "/version", a.apiVersionRoute)
	r := func(method, p string, h handlerFunc) {
		if routeHook != nil {
			routeHook(method, p)
		}
		mux.Handle(method+" "+a.base+p, getOnly(method, apiVersion(a.handle(h))))
	}
	a.rootAPIRoutes(r)
	a.adminRoutes(r)
	a.csrfTokenRoutes(r)
	a.flowRoutes(r)
	a.variableRoutes(r)
	a.concurrencyLimitV2Routes(r)
	a.concurrencyLimitRoutes(r)
	a.eventRoutes(r)
	a.logRoutes(r)
	a.artifactRoutes(r)
	a.runRoutes(r)
	a.uiRoutes(r)
	a.flowRunLatenessRoutes(r)
	a.flowRunExtraRoutes(r)
	a.workPoolRoutes(r)
	a.workQueueRoutes(r)
	a.workerRoutes(r)
	a.workPollRoutes(r)
	a.deploymentRoutes(r)
	a.deploymentScheduleRunsRoutes(r)
	a.collectionRoutes(r)
	a.taskWorkerRoutes(r)
}

func (a *app) rootAPIRoutes(route route) {
	route("GET", "/ready", a.ready)
	route("GET", "/hello", a.hello)
}

func (a *app) adminRoutes(route route) {
	route("GET", "/admin/settings", a.adminSettings)
	route("GET", "/admin/version", a.adminVersion)
	route("GET", "/admin/storage", a.adminStorageRead)
	route("PUT", "/admin/storage", a.adminStorageUpdate)
	route("DELETE", "/admin/storage", a.adminStorageClear)
}

func (a *app) csrfTokenRoutes(route route) {
	route("GET", "/csrf-token", a.csrfTokenCreate)
}

// websocketRoutes lists the websocket routes (under the base path). Each
// handler starts with AcceptPrefectSocket; one line per resource, like
// apiRoutes.
func (a *app) websocketRoutes(mux *http.ServeMux) {
	ws := func(p string, h http.HandlerFunc) { mux.Handle("GET "+a.base+p, h) }
	a.eventSocketRoutes(ws)
	a.logSocketRoutes(ws)
	a.taskWorkerSocketRoutes(ws)
}

// rootRoutes lists the routes outside the API mount.
func (a *app) rootRoutes(mux *http.ServeMux) {
	mux.Handle("GET /ui-settings", a.handle(a.uiSettings))
	if serve := strings.TrimRight(a.settings.UIServeBase, "/"); serve != "" && validMountPath(serve) {
		mux.Handle("GET "+serve+"/ui-settings", a.handle(a.uiSettings))
	}
}

// mount sends the base path and everything below it to api, the rest to root.
func (a *app) mount(api, root http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == a.base || strings.HasPrefix(p, a.base+"/") {
			api.ServeHTTP(w, r)
			return
		}
		root.ServeHTTP(w, r)
	})
}

// dispatch serves mux, answering unknown paths and wrong methods with
// FastAPI's JSON bodies instead of ServeMux's plain text.
func (a *app) dispatch(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanPath(r.URL.Path) {
			// ServeMux would redirect to the cleaned path; Starlette matches
			// the raw path and finds nothing, and so do we.
			writeJSON(w, http.StatusNotFound, errNotFound.Body)
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusOnly{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		default:
			writeJSON(w, http.StatusNotFound, errNotFound.Body)
		}
	})
}

// statusOnly captures the status ServeMux's own 404/405 handlers choose.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// cleanPath reports whether p has no empty, "." or ".." segments (a single
// trailing slash is fine).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	trimmed := strings.TrimSuffix(p, "/")
	if trimmed == "" {
		return true
	}
	return path.Clean(trimmed) == trimmed
}

// normaliseBase validates the API mount path; settings already normalised it
// to a leading "/" without a trailing one.
func normaliseBase(b string) (string, error) {
	if b == "" || b == "/" {
		return "/api", nil
	}
	b = "/" + strings.Trim(b, "/")
	if !validMountPath(b) {
		return "", fmt.Errorf("api: invalid base path %q", b)
	}
	return b, nil
}

// validMountPath rejects paths ServeMux would misread as pattern syntax or
// that are not clean.
func validMountPath(p string) bool {
	return cleanPath(p) && !strings.ContainsAny(p, "{} \t\r\n")
}
