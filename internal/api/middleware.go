package api

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// errBodyTooLarge answers bodies over Settings.MaxRequestBody.
var errBodyTooLarge = errDetail(http.StatusRequestEntityTooLarge, "Request body too large")

// recoverPanics turns a handler panic into Prefect's 500 body. The stack goes
// to the log, never to the client.
func (a *app) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseState{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.logger.Error("handler panic", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if !rw.wrote {
				writeJSON(rw, errInternal.Status, errInternal.Body)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// requestLog logs one line per request. Only method, path (no query),
// status, size and duration: never headers (Authorization, CSRF tokens) or
// bodies.
func (a *app) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseState{ResponseWriter: w}
		completed := false
		defer func() {
			status := rw.status
			switch {
			case !completed && !rw.wrote:
				// A panic is unwinding; recoverPanics answers 500.
				status = http.StatusInternalServerError
			case status == 0:
				status = http.StatusOK
			}
			a.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", rw.bytes),
				slog.Duration("duration", time.Since(start)),
			)
		}()
		next.ServeHTTP(rw, r)
		completed = true
	})
}

// securityHeaders adds headers every response carries.
func (a *app) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if a.version != "" {
			h.Set("X-Warden-Version", a.version)
		}
		next.ServeHTTP(w, r)
	})
}

// defaultContentType marks bodies without a Content-Type as JSON, as Prefect
// does for clients older than 3.6.19.
func defaultContentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if r.Header.Get("Content-Type") == "" && (r.ContentLength > 0 || r.ContentLength == -1) {
				r.Header.Set("Content-Type", "application/json")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// minimumAPIVersion is the oldest X-PREFECT-API-VERSION Prefect accepts.
var minimumAPIVersion = [3]int{0, 8, 0}

// apiVersion enforces Prefect's minimum API version when the header is sent.
func apiVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("X-Prefect-Api-Version")
		if v == "" {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := parseAPIVersion(v)
		if !ok {
			e := errDetail(http.StatusBadRequest, "Invalid X-PREFECT-API-VERSION header format."+
				"Expected header in format 'x.y.z' but received "+v)
			writeJSON(w, e.Status, e.Body)
			return
		}
		if less(got, minimumAPIVersion) {
			e := errDetail(http.StatusBadRequest, "The request specified API version "+v+
				" but this server requires version 0.8.0 or higher.")
			writeJSON(w, e.Status, e.Body)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func parseAPIVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// bodyLimit rejects bodies over MaxRequestBody before any handler runs when
// the length is declared, and caps the reader otherwise (the handler's read
// then fails with *http.MaxBytesError → 413, before anything is stored).
func (a *app) bodyLimit(next http.Handler) http.Handler {
	limit := a.settings.MaxRequestBody
	if limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			// Tell net/http not to drain the rest of an oversized body.
			w.Header().Set("Connection", "close")
			writeJSON(w, errBodyTooLarge.Status, errBodyTooLarge.Body)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// websocketBypass routes websocket upgrades for websocket routes around the
// HTTP auth chain: those handlers authenticate in-band, like Prefect's
// (whose Basic-auth middleware ignores websocket scopes). Every other
// request, including an upgrade aimed at a REST route, goes through next.
func websocketBypass(ws *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			if _, pattern := ws.Handler(r); pattern != "" {
				ws.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// responseState records what was written, for logging and for the panic
// handler. Unwrap keeps http.ResponseController and websocket hijacking working.
type responseState struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (rw *responseState) WriteHeader(code int) {
	if !rw.wrote {
		rw.status = code
		rw.wrote = code >= 200 || code == http.StatusSwitchingProtocols
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseState) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.status, rw.wrote = http.StatusOK, true
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

func (rw *responseState) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// Flush and Hijack are forwarded for streaming and websocket handlers.
func (rw *responseState) Flush() {
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (rw *responseState) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	rw.status, rw.wrote = http.StatusSwitchingProtocols, true
	return http.NewResponseController(rw.ResponseWriter).Hijack()
}
