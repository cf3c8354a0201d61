package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// bundleFS is a miniature Vite bundle built with the placeholder base.
func bundleFS() fstest.MapFS {
	big := strings.Repeat("console.log('padding so gzip is worth it');\n", 100)
	return fstest.MapFS{
		"index.html":              {Data: []byte(`<script src="` + Placeholder + `/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js":  {Data: []byte(`const base="` + Placeholder + `/";` + big)},
		"assets/index-abc123.css": {Data: []byte(`body{background:url(` + Placeholder + `/assets/bg.png)}`)},
		"assets/bg.png":           {Data: []byte("\x89PNG" + Placeholder)},
		"favicon.svg":             {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
	}
}

func newTestHandler(t *testing.T, base string) *Handler {
	t.Helper()
	h, err := newHandler(bundleFS(), base)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPlaceholderRewrittenInMemory(t *testing.T) {
	for base, want := range map[string]string{"/": `src="/assets/index-abc123.js"`, "/prefect": `src="/prefect/assets/index-abc123.js"`, "/a/b/": `src="/a/b/assets/index-abc123.js"`} {
		h := newTestHandler(t, base)
		prefix := strings.TrimSuffix(strings.TrimSuffix(want, `assets/index-abc123.js"`), "/")
		prefix = strings.TrimPrefix(prefix, `src="`)
		rec := get(t, h, prefix+"/")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("base %q: index %d %q, want it to contain %q", base, rec.Code, rec.Body.String(), want)
		}
		js := get(t, h, prefix+"/assets/index-abc123.js").Body.String()
		if !strings.HasPrefix(js, `const base="`+prefix+`/";`) {
			t.Errorf("base %q: js starts %q", base, js[:40])
		}
		css := get(t, h, prefix+"/assets/index-abc123.css").Body.String()
		if css != `body{background:url(`+prefix+`/assets/bg.png)}` {
			t.Errorf("base %q: css %q", base, css)
		}
		// Binary files are never touched.
		if png := get(t, h, prefix+"/assets/bg.png").Body.String(); png != "\x89PNG"+Placeholder {
			t.Errorf("base %q: png was rewritten: %q", base, png)
		}
	}
}

func TestCacheHeadersAndTypes(t *testing.T) {
	h := newTestHandler(t, "/")
	index := get(t, h, "/")
	if got := index.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("index Cache-Control %q", got)
	}
	if got := index.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("index Content-Type %q", got)
	}
	js := get(t, h, "/assets/index-abc123.js")
	if got := js.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("asset Cache-Control %q", got)
	}
	if got := js.Header().Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("asset Content-Type %q", got)
	}
	if got := get(t, h, "/favicon.svg").Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("unhashed public file Cache-Control %q", got)
	}
}

func TestGzipAndETag(t *testing.T) {
	h := newTestHandler(t, "/")
	plain := get(t, h, "/assets/index-abc123.js")
	zipped := get(t, h, "/assets/index-abc123.js", "Accept-Encoding", "br, gzip")
	if zipped.Header().Get("Content-Encoding") != "gzip" || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("encodings: zipped %q, plain %q", zipped.Header().Get("Content-Encoding"), plain.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain.Body.Bytes()) || zipped.Body.Len() >= plain.Body.Len() {
		t.Errorf("gzip body differs or is not smaller (%d vs %d)", zipped.Body.Len(), plain.Body.Len())
	}
	if refused := get(t, h, "/assets/index-abc123.js", "Accept-Encoding", "gzip;q=0"); refused.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still got gzip")
	}
	etag := plain.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if rec := get(t, h, "/assets/index-abc123.js", "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d with %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := get(t, h, "/assets/index-abc123.js", "If-None-Match", `"other"`); rec.Code != http.StatusOK {
		t.Errorf("stale If-None-Match: %d", rec.Code)
	}
}

func TestSPAFallbackOnlyForNavigations(t *testing.T) {
	h := newTestHandler(t, "/prefect")
	html := "text/html,application/xhtml+xml,*/*;q=0.8"
	cases := []struct {
		name    string
		path    string
		headers []string
		code    int
		index   bool
	}{
		{"deep link navigation", "/prefect/runs/flow-run/42", []string{"Accept", html}, 200, true},
		{"navigation by fetch metadata", "/prefect/dashboard", []string{"Sec-Fetch-Mode", "navigate", "Accept", "*/*"}, 200, true},
		{"base without slash", "/prefect", nil, 200, true},
		{"script fetch of a route", "/prefect/dashboard", []string{"Accept", "*/*"}, 404, false},
		{"missing asset", "/prefect/assets/missing.js", []string{"Accept", "*/*"}, 404, false},
		{"missing asset navigated to", "/prefect/assets/missing.js", []string{"Accept", html}, 404, false},
		{"outside the base", "/dashboard", []string{"Accept", html}, 404, false},
		{"prefix lookalike", "/prefectx/dashboard", []string{"Accept", html}, 404, false},
	}
	for _, c := range cases {
		rec := get(t, h, c.path, c.headers...)
		if rec.Code != c.code {
			t.Errorf("%s: %s answered %d, want %d", c.name, c.path, rec.Code, c.code)
			continue
		}
		if isIndex := strings.Contains(rec.Body.String(), "<script"); isIndex != c.index {
			t.Errorf("%s: index served = %v, want %v", c.name, isIndex, c.index)
		}
		if c.code == 404 && rec.Body.String() != `{"detail":"Not Found"}` {
			t.Errorf("%s: 404 body %q", c.name, rec.Body.String())
		}
	}
}

func TestMethodsAndHead(t *testing.T) {
	h := newTestHandler(t, "/")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/assets/index-abc123.js", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestInvalidServeBase(t *testing.T) {
	for _, base := range []string{"/a b", "/a/../b", `/a"b`, "/a<b", "/a`b", "/a//b"} {
		if _, err := newHandler(bundleFS(), base); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
	if _, err := newHandler(fstest.MapFS{"x.js": {Data: []byte("x")}}, "/"); err == nil {
		t.Error("bundle without index.html accepted")
	}
}

func TestMount(t *testing.T) {
	tag := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	cases := []struct {
		serveBase, apiBase, path, want string
	}{
		{"/", "/api", "/", "ui"},
		{"/", "/api", "/runs/flow-run/1", "ui"},
		{"/", "/api", "/api/flows/filter", "api"},
		{"/", "/api", "/api", "api"},
		{"/", "/api", "/ui-settings", "api"},
		{"/", "/api", "/apix", "ui"},
		{"/prefect", "/api", "/prefect/", "ui"},
		{"/prefect", "/api", "/prefect/ui-settings", "api"},
		{"/prefect", "/api", "/ui-settings", "api"},
		{"/prefect", "/api", "/dashboard", "api"},
		{"/prefect", "/api", "/api/health", "api"},
		{"/prefect", "/prefect/api", "/prefect/api/health", "api"},
		{"/prefect", "/prefect/api", "/prefect/assets/x.js", "ui"},
	}
	for _, c := range cases {
		h := Mount(tag("api"), tag("ui"), c.serveBase, c.apiBase)
		if got := get(t, h, c.path).Body.String(); got != c.want {
			t.Errorf("serve %q api %q: %s went to %s, want %s", c.serveBase, c.apiBase, c.path, got, c.want)
		}
	}
}

func TestNoBundleHandler(t *testing.T) {
	rec := get(t, noBundle{}, "/dashboard", "Accept", "text/html")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "built without the web UI") {
		t.Errorf("noui: %d %q", rec.Code, rec.Body.String())
	}
}

// TestConcurrentFirstGzip: many first requests for one file compress it
// once and all get the same body (run with -race).
func TestConcurrentFirstGzip(t *testing.T) {
	h := newTestHandler(t, "/")
	const n = 8
	bodies := make(chan []byte, n)
	for range n {
		go func() {
			req := httptest.NewRequest(http.MethodGet, "/assets/index-abc123.js", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			bodies <- rec.Body.Bytes()
		}()
	}
	first := <-bodies
	for range n - 1 {
		if !bytes.Equal(<-bodies, first) {
			t.Fatal("concurrent gzip bodies differ")
		}
	}
}
