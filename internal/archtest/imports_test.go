// Package archtest holds tests of the codebase's shape: the one-way import
// rules of CONTRIBUTING.md, checked on every test run rather than by review.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/warden-orchestration/warden"

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// rules: a package (prefix) may not import any of the listed prefixes.
var forbidden = []struct {
	from    string
	imports []string
	why     string
}{
	{"apitype", []string{"client", "internal/"}, "apitype is the public leaf of wire types"},
	{"client", []string{"internal/"}, "the public SDK must not depend on server internals"},
	{"internal/settings", []string{"internal/api", "internal/storage", "internal/server", "internal/cli", "client"}, "settings is a leaf"},
	{"internal/storage", []string{"internal/api", "internal/server", "internal/cli", "internal/settings", "client"}, "storage knows nothing of HTTP or settings"},
	{"internal/orchestration", []string{"internal/api", "internal/storage", "internal/server", "internal/cli", "net/http", "database/sql"}, "rules have no SQL and no HTTP"},
	{"internal/runstate", []string{"internal/api", "internal/service", "internal/server", "internal/cli", "net/http", "internal/storage/sqlite", "internal/storage/postgres"}, "applying transitions is shared by handlers and services, below both"},
	{"internal/service", []string{"internal/api", "internal/server", "internal/cli", "net/http", "internal/storage/sqlite", "internal/storage/postgres"}, "background services see storage and runstate, not HTTP"},
	{"internal/api", []string{"internal/server", "internal/cli", "internal/storage/sqlite", "internal/storage/postgres", "internal/storage/dbopen"}, "handlers see only the Store interface"},
	{"internal/server", []string{"internal/cli"}, "the composition root does not know the CLI"},
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, rule := range forbidden {
			if rel != rule.from && !strings.HasPrefix(rel, rule.from+"/") {
				continue
			}
			for _, imp := range p.Imports {
				impRel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
				for _, bad := range rule.imports {
					local := strings.HasPrefix(imp, module+"/") && (impRel == strings.TrimSuffix(bad, "/") || strings.HasPrefix(impRel, strings.TrimSuffix(bad, "/")+"/"))
					std := !strings.Contains(bad, "internal") && bad != "client" && imp == bad
					if local || std {
						t.Errorf("%s imports %s: %s", p.ImportPath, imp, rule.why)
					}
				}
			}
		}
	}
}
