package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/ui"
)

func TestNewUI(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	off, err := newUI(settings.Server{UIEnabled: false, UIServeBase: "/"}, logger)
	if err != nil || off != nil {
		t.Fatalf("ui disabled: handler %v, err %v", off, err)
	}
	if _, err := newUI(settings.Server{UIEnabled: true, UIServeBase: "/a b"}, logger); err == nil {
		t.Fatal("invalid serve base accepted")
	}
	h, err := newUI(settings.Server{UIEnabled: true, UIServeBase: "/prefect"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	// Mounted as New mounts it: the UI under /prefect, the rest to the API.
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("api")) })
	mounted := ui.Mount(api, h, "/prefect", apiBasePath(""))
	req := httptest.NewRequest(http.MethodGet, "/prefect/runs/flow-run/1", nil)
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	mounted.ServeHTTP(rec, req)
	want := http.StatusOK
	if !ui.Available() {
		want = http.StatusNotFound // built with -tags noui
	}
	if rec.Code != want || (ui.Available() && !strings.Contains(rec.Body.String(), `src="/prefect/assets/`)) {
		t.Errorf("deep link: %d %.200s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	mounted.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))
	if rec.Body.String() != "api" {
		t.Errorf("/api/health went to the UI: %q", rec.Body.String())
	}
}

func TestAPIBasePath(t *testing.T) {
	for in, want := range map[string]string{"": "/api", "/": "/api", "/v2/api": "/v2/api"} {
		if got := apiBasePath(in); got != want {
			t.Errorf("apiBasePath(%q) = %q, want %q", in, got, want)
		}
	}
}
