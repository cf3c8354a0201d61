package api

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

// allMethods is what "*" expands to, in Starlette's order.
var allMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// safelistedHeaders are always allowed in preflights when headers are listed.
var safelistedHeaders = []string{"Accept", "Accept-Language", "Content-Language", "Content-Type"}

// corsMaxAge is Starlette's default preflight cache time in seconds.
const corsMaxAge = "600"

// corsPolicy is Starlette's CORSMiddleware as Prefect configures it: origins,
// methods and headers from settings; no credentials, no exposed headers.
type corsPolicy struct {
	allOrigins bool
	origins    []string
	methods    []string
	allHeaders bool
	headers    []string // lower-case, including the safelisted ones
	listHeader string   // Access-Control-Allow-Headers for listed headers
}

func newCORSPolicy(origins, methods, headers []string) *corsPolicy {
	p := &corsPolicy{
		allOrigins: slices.Contains(origins, "*"),
		origins:    origins,
		methods:    methods,
		allHeaders: slices.Contains(headers, "*"),
	}
	if slices.Contains(methods, "*") {
		p.methods = allMethods
	}
	set := map[string]bool{}
	for _, h := range append(slices.Clone(safelistedHeaders), headers...) {
		set[h] = true
	}
	names := make([]string, 0, len(set))
	for h := range set {
		names = append(names, h)
	}
	sort.Strings(names)
	p.listHeader = strings.Join(names, ", ")
	for _, h := range names {
		p.headers = append(p.headers, strings.ToLower(h))
	}
	return p
}

func (p *corsPolicy) originAllowed(origin string) bool {
	return p.allOrigins || slices.Contains(p.origins, origin)
}

// cors answers preflights itself (before auth) and decorates other
// cross-origin responses.
func (a *app) cors(next http.Handler) http.Handler {
	s := a.settings
	p := newCORSPolicy(s.CORSAllowedOrigins, s.CORSAllowedMethods, s.CORSAllowedHeaders)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			p.preflight(w, r, origin)
			return
		}
		h := w.Header()
		switch {
		case p.allOrigins && r.Header.Get("Cookie") == "":
			h.Set("Access-Control-Allow-Origin", "*")
		case p.originAllowed(origin):
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		}
		next.ServeHTTP(w, r)
	})
}

func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	if p.allOrigins {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Vary", "Origin")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(p.methods, ", "))
	h.Set("Access-Control-Max-Age", corsMaxAge)
	if !p.allHeaders {
		h.Set("Access-Control-Allow-Headers", p.listHeader)
	}

	var failures []string
	if !p.originAllowed(origin) {
		failures = append(failures, "origin")
	} else if !p.allOrigins {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if !slices.Contains(p.methods, r.Header.Get("Access-Control-Request-Method")) {
		failures = append(failures, "method")
	}
	if requested, ok := headerValue(r.Header, "Access-Control-Request-Headers"); ok {
		if p.allHeaders {
			h.Set("Access-Control-Allow-Headers", requested)
		} else {
			for _, name := range strings.Split(requested, ",") {
				if !slices.Contains(p.headers, strings.ToLower(strings.TrimSpace(name))) {
					failures = append(failures, "headers")
					break
				}
			}
		}
	}
	status, body := http.StatusOK, "OK"
	if len(failures) > 0 {
		status, body = http.StatusBadRequest, "Disallowed CORS "+strings.Join(failures, ", ")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
