//go:build !noui

package ui

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestEmbeddedBundle checks the committed bundle: present, without source
// maps, and fully rewritten for a non-root base.
func TestEmbeddedBundle(t *testing.T) {
	if !Available() {
		t.Fatal("no UI bundle embedded: run make ui")
	}
	fs.WalkDir(embedded(), ".", func(name string, d fs.DirEntry, err error) error {
		if strings.HasSuffix(name, ".map") {
			t.Errorf("source map %s in the committed bundle", name)
		}
		return err
	})
	handler, err := New("/prefect")
	if err != nil {
		t.Fatal(err)
	}
	h := handler.(*Handler)
	for name, f := range h.files {
		if strings.Contains(string(f.body), Placeholder) {
			t.Errorf("%s still holds the placeholder", name)
		}
	}
	index := get(t, h, "/prefect/", "Accept", "text/html")
	if index.Code != http.StatusOK {
		t.Fatalf("index: %d", index.Code)
	}
	// Every asset index.html names is served, under the base.
	refs := regexp.MustCompile(`(?:src|href)="(/prefect/[^"]+)"`).FindAllStringSubmatch(index.Body.String(), -1)
	if len(refs) < 2 {
		t.Fatalf("index.html names %d files: %s", len(refs), index.Body.String())
	}
	for _, ref := range refs {
		if rec := get(t, h, ref[1]); rec.Code != http.StatusOK {
			t.Errorf("%s: %d", ref[1], rec.Code)
		}
	}
}
