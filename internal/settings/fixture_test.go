package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixture is a throwaway working directory and PREFECT_HOME; nothing
// touches the real environment or home.
type fixture struct {
	t       *testing.T
	dir     string // working directory (.env, prefect.toml, pyproject.toml)
	home    string // PREFECT_HOME
	environ []string
	profile string
	over    map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	home := filepath.Join(t.TempDir(), "prefect-home")
	return &fixture{t: t, dir: t.TempDir(), home: home, environ: []string{"HOME=" + t.TempDir(), "PREFECT_HOME=" + home}}
}

func (f *fixture) env(kv ...string) *fixture { f.environ = append(f.environ, kv...); return f }

func (f *fixture) file(name, content string) *fixture {
	f.t.Helper()
	path := name
	if !filepath.IsAbs(name) {
		path = filepath.Join(f.dir, name)
	}
	require.NoError(f.t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(f.t, os.WriteFile(path, []byte(strings.TrimLeft(content, "\n")), 0o600))
	return f
}

// profiles writes $PREFECT_HOME/profiles.toml.
func (f *fixture) profiles(content string) *fixture {
	return f.file(filepath.Join(f.home, "profiles.toml"), content)
}

func (f *fixture) opts() LoadOptions {
	return LoadOptions{Environ: f.environ, Dir: f.dir, Profile: f.profile, Overrides: f.over}
}

func (f *fixture) load() (*Settings, error) { return Load(f.opts()) }

func (f *fixture) mustLoad() *Settings {
	f.t.Helper()
	s, err := f.load()
	require.NoError(f.t, err)
	return s
}

func (f *fixture) server() Server {
	f.t.Helper()
	srv, err := f.mustLoad().Server()
	require.NoError(f.t, err)
	return srv
}

func value(t *testing.T, s *Settings, name string) Value {
	t.Helper()
	v, ok := s.Get(name)
	require.True(t, ok, name)
	return v
}
