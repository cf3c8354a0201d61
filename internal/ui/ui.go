// Package ui serves Warden's web UI: the Vue bundle built from ui/ and
// embedded at build time (leave it out with -tags noui).
//
// The bundle is built with the placeholder base
// /PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER; New rewrites it in memory to
// server.ui.serve_base, so one bundle serves any path prefix, and prepares
// each file once (ETag at start-up, gzip on first use).
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// Placeholder is the base path the bundle is built with (see ui/vite.config.ts).
const Placeholder = "/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER"

// rewritten lists the extensions whose contents may name the base, as
// Prefect's server rewrites them.
var rewritten = map[string]bool{".html": true, ".css": true, ".js": true, ".json": true, ".txt": true}

// compressible lists the extensions worth gzipping.
var compressible = map[string]bool{".html": true, ".css": true, ".js": true, ".json": true, ".txt": true, ".svg": true, ".map": true}

const (
	// Hashed assets never change under their name.
	cacheImmutable = "public, max-age=31536000, immutable"
	// Everything else (index.html above all) is revalidated on each load,
	// so a new binary's bundle is picked up at once.
	cacheRevalidate = "no-cache"
	// Smaller files are not worth a gzip round.
	minGzipSize = 1024
)

// ErrNoBundle is returned by New when the binary was built without the UI.
var ErrNoBundle = errors.New("ui: this binary was built without the web UI (build tag noui)")

// Available reports whether this binary embeds the UI bundle.
func Available() bool { return embedded() != nil }

// New returns the handler serving the embedded bundle under base (a
// normalised serve_base such as "/" or "/prefect"). Without a bundle it
// returns ErrNoBundle and a handler that answers every request with a 404
// saying so.
func New(base string) (http.Handler, error) {
	if _, err := normaliseBase(base); err != nil {
		return nil, err
	}
	fsys := embedded()
	if fsys == nil {
		return noBundle{}, ErrNoBundle
	}
	return newHandler(fsys, base)
}

// file is one prepared bundle file.
type file struct {
	body        []byte
	compress    bool // worth gzipping
	gzipOnce    sync.Once
	gzipped     []byte // set by gzipOnce; nil when gzip does not shrink it
	contentType string
	etag        string
	cache       string
}

// Handler serves a prepared bundle.
type Handler struct {
	base  string // "" for "/", else "/prefect"
	files map[string]*file
	index *file
}

func newHandler(fsys fs.FS, base string) (*Handler, error) {
	prefix, err := normaliseBase(base)
	if err != nil {
		return nil, err
	}
	h := &Handler{base: prefix, files: map[string]*file{}}
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		h.files[name] = prepare(name, body, prefix)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: read bundle: %w", err)
	}
	if h.index = h.files["index.html"]; h.index == nil {
		return nil, errors.New("ui: bundle has no index.html")
	}
	return h, nil
}

// normaliseBase turns "/", "/prefect" or "/prefect/" into the prefix that
// replaces the placeholder: "" or "/prefect". The base ends up inside
// JavaScript string literals and HTML attributes, so only URL path
// characters that need no escaping there are accepted.
func normaliseBase(base string) (string, error) {
	trimmed := strings.Trim(base, "/")
	if trimmed == "" {
		return "", nil
	}
	p := "/" + trimmed
	if path.Clean(p) != p {
		return "", fmt.Errorf("ui: invalid serve base %q: not a clean path", base)
	}
	for _, r := range trimmed {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r)
		if !ok {
			return "", fmt.Errorf("ui: invalid serve base %q: only letters, digits and /-._~ are allowed", base)
		}
	}
	return p, nil
}

func prepare(name string, body []byte, prefix string) *file {
	ext := path.Ext(name)
	if rewritten[ext] {
		body = bytes.ReplaceAll(body, []byte(Placeholder), []byte(prefix))
	}
	sum := sha256.Sum256(body)
	f := &file{
		body:        body,
		contentType: contentType(ext),
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		cache:       cacheRevalidate,
	}
	if strings.HasPrefix(name, "assets/") {
		f.cache = cacheImmutable
	}
	f.compress = compressible[ext] && len(body) >= minGzipSize
	return f
}

// gzipBody compresses the body on first use and keeps the result: doing
// the whole bundle at start-up would cost every server start about half a
// second, most of it for files a given process never serves.
func (f *file) gzipBody() []byte {
	f.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(f.body)
		zw.Close()
		if buf.Len() < len(f.body) {
			f.gzipped = buf.Bytes()
		}
	})
	return f.gzipped
}

func contentType(ext string) string {
	switch ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// ServeHTTP serves the file at the request path (relative to the base),
// index.html for the base itself and for HTML navigations to client-side
// routes, and a 404 for anything else.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel, ok := h.relative(r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	f := h.files[rel]
	switch {
	case rel == "" || rel == "index.html":
		f = h.index
	case f == nil && isNavigation(r) && !strings.HasPrefix(rel, "assets/"):
		// A client-side route such as /runs/flow-run/<id>.
		f = h.index
	case f == nil:
		notFound(w)
		return
	}
	serve(w, r, f)
}

// relative strips the base from p; ok is false outside the base.
func (h *Handler) relative(p string) (string, bool) {
	if h.base != "" {
		if p == h.base {
			return "", true
		}
		if !strings.HasPrefix(p, h.base+"/") {
			return "", false
		}
		p = p[len(h.base):]
	}
	return strings.TrimPrefix(p, "/"), true
}

// isNavigation reports whether the browser is loading a page (as opposed to
// fetching an asset or calling an API), the only case that gets index.html.
func isNavigation(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		return true
	}
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "document", "iframe":
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("ETag", f.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if f.compress {
		hdr.Add("Vary", "Accept-Encoding")
	}
	if etagMatches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.compress && acceptsGzip(r) {
		if zipped := f.gzipBody(); zipped != nil {
			hdr.Set("Content-Encoding", "gzip")
			body = zipped
		}
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == etag || candidate == "*" {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		// "gzip;q=0" refuses it; any other weight accepts it.
		_, q, found := strings.Cut(strings.ReplaceAll(params, " ", ""), "q=")
		if !found {
			return true
		}
		weight, err := strconv.ParseFloat(q, 64)
		return err != nil || weight > 0
	}
	return false
}

// notFound answers like the API's unknown paths.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`{"detail":"Not Found"}`))
}

// noBundle serves builds without the UI.
type noBundle struct{}

func (noBundle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintln(w, "404: this Warden binary was built without the web UI (build tag noui); the API is under /api.")
}
