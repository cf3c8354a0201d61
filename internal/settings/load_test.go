package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// setters put server.api.port = port into one source.
var setters = []struct {
	name string
	kind SourceKind
	set  func(f *fixture, port int)
}{
	{"override", SourceOverride, func(f *fixture, p int) { f.over = map[string]string{"server.api.port": fmt.Sprint(p)} }},
	{"env", SourceEnv, func(f *fixture, p int) { f.env(fmt.Sprintf("PREFECT_SERVER_API_PORT=%d", p)) }},
	{".env", SourceDotEnv, func(f *fixture, p int) { f.file(".env", fmt.Sprintf("PREFECT_SERVER_API_PORT=%d\n", p)) }},
	{"prefect.toml", SourcePrefectTOML, func(f *fixture, p int) { f.file("prefect.toml", fmt.Sprintf("[server.api]\nport = %d\n", p)) }},
	{"pyproject.toml", SourcePyproject, func(f *fixture, p int) {
		f.file("pyproject.toml", fmt.Sprintf("[project]\nname = \"x\"\n[tool.prefect.server.api]\nport = %d\n", p))
	}},
	{"profile", SourceProfile, func(f *fixture, p int) {
		f.profiles(fmt.Sprintf("active = \"dev\"\n[profiles.dev]\nPREFECT_SERVER_API_PORT = \"%d\"\n", p))
	}},
}

func TestPrecedenceEveryPair(t *testing.T) {
	for i, hi := range setters {
		for _, lo := range setters[i+1:] {
			t.Run(hi.name+">"+lo.name, func(t *testing.T) {
				f := newFixture(t)
				lo.set(f, 1111)
				hi.set(f, 2222)
				v := value(t, f.mustLoad(), "server.api.port")
				require.Equal(t, int64(2222), v.Parsed())
				require.Equal(t, hi.kind, v.Source.Kind)
			})
		}
		t.Run(hi.name+">default", func(t *testing.T) {
			f := newFixture(t)
			hi.set(f, 3333)
			require.Equal(t, 3333, f.server().Port)
		})
	}
	t.Run("default", func(t *testing.T) {
		v := value(t, newFixture(t).mustLoad(), "server.api.port")
		require.Equal(t, int64(4200), v.Parsed())
		require.Equal(t, SourceDefault, v.Source.Kind)
		require.False(t, v.IsSet())
	})
}

func TestAliases(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(f *fixture)
		want   bool
		source string
	}{
		{"legacy env alone", func(f *fixture) { f.env("PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true") }, true, "env var PREFECT_SERVER_CSRF_PROTECTION_ENABLED"},
		{"canonical env beats legacy", func(f *fixture) {
			f.env("PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true", "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED=false")
		}, false, "env var PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"},
		{"canonical beats legacy in .env", func(f *fixture) {
			f.file(".env", "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED=false\nPREFECT_SERVER_CSRF_PROTECTION_ENABLED=true\n")
		}, false, ".env file key PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"},
		{"canonical beats legacy in profile", func(f *fixture) {
			f.profiles("active = \"p\"\n[profiles.p]\nPREFECT_SERVER_CSRF_PROTECTION_ENABLED = \"true\"\nPREFECT_SERVER_API_CSRF_PROTECTION_ENABLED = \"false\"\n")
		}, false, `profile "p" key PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED`},
		{"legacy env beats canonical in lower source", func(f *fixture) {
			f.env("PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true")
			f.file("prefect.toml", "[server.api]\ncsrf_protection_enabled = false\n")
		}, true, "env var PREFECT_SERVER_CSRF_PROTECTION_ENABLED"},
		{"alias key in TOML table", func(f *fixture) {
			f.file("prefect.toml", "[server.api]\nprefect_server_csrf_protection_enabled = true\n")
		}, true, "prefect.toml"},
		{"field key beats alias key in TOML", func(f *fixture) {
			f.file("prefect.toml", "[server.api]\nprefect_server_csrf_protection_enabled = true\ncsrf_protection_enabled = false\n")
		}, false, "prefect.toml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			s := f.mustLoad()
			v := value(t, s, "server.api.csrf_protection_enabled")
			require.Equal(t, tc.want, v.Parsed())
			require.Equal(t, tc.source, v.Source.Describe())
		})
	}
}

func TestEnvNamesCaseInsensitive(t *testing.T) {
	f := newFixture(t).env("prefect_server_api_port=4301").file(".env", "Prefect_Server_Api_Host=0.0.0.0\n")
	srv := f.server()
	require.Equal(t, 4301, srv.Port)
	require.Equal(t, "0.0.0.0", srv.Host)
	s := f.mustLoad()
	require.Equal(t, "prefect_server_api_port", value(t, s, "server.api.port").Source.Key)
}

func TestEmptyEnvVarIsAValue(t *testing.T) {
	s := newFixture(t).env("PREFECT_API_URL=").file("prefect.toml", "[api]\nurl = \"http://x/api\"\n").mustLoad()
	v := value(t, s, "api.url")
	require.True(t, v.IsSet())
	require.Equal(t, "", v.Parsed())

	_, err := newFixture(t).env("PREFECT_SERVER_API_PORT=").load()
	require.EqualError(t, err, `invalid setting server.api.port from env var PREFECT_SERVER_API_PORT: expected an integer, got ""`)
}

func TestUIAPIURLSpellings(t *testing.T) {
	cases := []struct {
		name, file, content, want string
	}{
		{"[ui] api_url in prefect.toml", "prefect.toml", "[ui]\napi_url = \"https://ui.example/api\"\n", "https://ui.example/api"},
		{"[tool.prefect.ui] in pyproject", "pyproject.toml", "[tool.prefect.ui]\napi_url = \"https://py.example/api\"\n", "https://py.example/api"},
		{"[server.ui] beats [ui]", "prefect.toml", "[ui]\napi_url = \"https://a/api\"\n[server.ui]\napi_url = \"https://b/api\"\n", "https://b/api"},
		{"legacy alias key in [server.ui]", "prefect.toml", "[server.ui]\nPREFECT_UI_API_URL = \"https://c/api\"\n", "https://c/api"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, newFixture(t).file(tc.file, tc.content).server().UIAPIURL)
		})
	}
	t.Run("PREFECT_UI_API_URL env alias", func(t *testing.T) {
		require.Equal(t, "https://env/api", newFixture(t).env("PREFECT_UI_API_URL=https://env/api").server().UIAPIURL)
	})
}

func TestUnknownKeysIgnored(t *testing.T) {
	f := newFixture(t).
		file("prefect.toml", "nonsense = 1\n[server.api]\nport = 4300\nbogus = \"x\"\n[server.api.port_table]\nx = 1\n").
		profiles("active = \"p\"\n[profiles.p]\nPREFECT_NOT_A_SETTING = \"x\"\n")
	s := f.mustLoad()
	require.Equal(t, int64(4300), value(t, s, "server.api.port").Parsed())
	for _, v := range s.Values(false) {
		require.NotContains(t, v.Def.Name, "bogus")
		require.NotContains(t, v.Def.EnvVar(), "NOT_A_SETTING")
	}
	_, ok := s.AdminJSON()["nonsense"]
	require.False(t, ok)
}

func TestProfileSelection(t *testing.T) {
	const file = `
active = "a"
[profiles.a]
PREFECT_SERVER_API_HOST = "a.example"
[profiles.b]
PREFECT_SERVER_API_HOST = "b.example"
[profiles.c]
PREFECT_SERVER_API_HOST = "c.example"
`
	cases := []struct {
		name    string
		flag    string
		env     []string
		want    string
		profile string
	}{
		{"active key", "", nil, "a.example", "a"},
		{"PREFECT_PROFILE beats active", "", []string{"PREFECT_PROFILE=b"}, "b.example", "b"},
		{"--profile beats PREFECT_PROFILE", "c", []string{"PREFECT_PROFILE=b"}, "c.example", "c"},
		{"test mode ignores profiles", "", []string{"PREFECT_TESTING_TEST_MODE=1"}, "127.0.0.1", "a"},
		{"legacy test mode var", "", []string{"PREFECT_UNIT_TEST_MODE=true"}, "127.0.0.1", "a"},
		{"test mode false is off", "", []string{"PREFECT_TEST_MODE=false"}, "a.example", "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t).profiles(file).env(tc.env...)
			f.profile = tc.flag
			s := f.mustLoad()
			srv, err := s.Server()
			require.NoError(t, err)
			require.Equal(t, tc.want, srv.Host)
			if !s.TestMode() {
				require.Equal(t, tc.profile, s.ActiveProfile())
			}
		})
	}
	t.Run("unknown profile is an error naming it", func(t *testing.T) {
		f := newFixture(t).profiles(file).env("PREFECT_PROFILE=nope")
		_, err := f.load()
		require.ErrorContains(t, err, `profile "nope" (from PREFECT_PROFILE) not found`)
	})
	t.Run("built-in profile when file lacks it", func(t *testing.T) {
		f := newFixture(t).profiles(file)
		f.profile = "local"
		require.Equal(t, "http://127.0.0.1:4200/api", f.server().UIAPIURL)
	})
	t.Run("no file uses the built-in ephemeral profile", func(t *testing.T) {
		s := newFixture(t).mustLoad()
		require.Equal(t, "ephemeral", s.ActiveProfile())
		v := value(t, s, "server.ephemeral.enabled")
		require.Equal(t, true, v.Parsed())
		require.Equal(t, SourceProfile, v.Source.Kind)
	})
	t.Run("profile TOML values of native type", func(t *testing.T) {
		s := newFixture(t).profiles("active = \"n\"\n[profiles.n]\nPREFECT_SERVER_API_PORT = 4555\nPREFECT_SERVER_UI_ENABLED = false\n").mustLoad()
		srv, err := s.Server()
		require.NoError(t, err)
		require.Equal(t, 4555, srv.Port)
		require.False(t, srv.UIEnabled)
	})
}

func TestProfilesPathResolution(t *testing.T) {
	custom := func(f *fixture) string { return filepath.Join(f.dir, "custom", "profiles.toml") }
	cases := []struct {
		name  string
		setup func(f *fixture)
	}{
		{"env", func(f *fixture) { f.env("PREFECT_PROFILES_PATH=" + custom(f)) }},
		{".env", func(f *fixture) { f.file(".env", "PREFECT_PROFILES_PATH="+custom(f)+"\n") }},
		{"prefect.toml", func(f *fixture) { f.file("prefect.toml", fmt.Sprintf("profiles_path = %q\n", custom(f))) }},
		{"pyproject.toml", func(f *fixture) {
			f.file("pyproject.toml", fmt.Sprintf("[tool.prefect]\nprofiles_path = %q\n", custom(f)))
		}},
		{"relative to working dir", func(f *fixture) { f.file("prefect.toml", "profiles_path = \"custom/profiles.toml\"\n") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.profiles("active = \"home\"\n[profiles.home]\nPREFECT_SERVER_API_HOST = \"home\"\n")
			f.file(custom(f), "active = \"custom\"\n[profiles.custom]\nPREFECT_SERVER_API_HOST = \"custom\"\n")
			tc.setup(f)
			s := f.mustLoad()
			require.Equal(t, custom(f), s.ProfilesPath())
			require.Equal(t, "custom", s.ActiveProfile())
			require.Equal(t, custom(f), value(t, s, "profiles_path").Parsed())
		})
	}
	t.Run("$PREFECT_HOME template and ~", func(t *testing.T) {
		f := newFixture(t)
		f.env("PREFECT_PROFILES_PATH=$PREFECT_HOME/other.toml")
		require.Equal(t, filepath.Join(f.home, "other.toml"), f.mustLoad().ProfilesPath())

		g := newFixture(t)
		userHome := t.TempDir()
		g.environ = []string{"HOME=" + userHome}
		s := g.mustLoad()
		require.Equal(t, filepath.Join(userHome, ".prefect", "profiles.toml"), s.ProfilesPath())
		srv, err := s.Server()
		require.NoError(t, err)
		require.Equal(t, filepath.Join(userHome, ".prefect"), srv.Home)
		require.Equal(t, filepath.Join(userHome, ".prefect", "memo_store.toml"), value(t, s, "server.memo_store_path").Parsed())
	})
}

func TestFileErrors(t *testing.T) {
	_, err := newFixture(t).file("prefect.toml", "[server.api\nauth_string = \"hunter2-secret\"\n").load()
	require.ErrorContains(t, err, "prefect.toml: invalid TOML")
	require.NotContains(t, err.Error(), "hunter2")

	_, err = newFixture(t).profiles("active = \n").load()
	require.ErrorContains(t, err, "invalid TOML")
}

func TestDotEnvSyntax(t *testing.T) {
	f := newFixture(t).file(".env", `
# comment
export PREFECT_SERVER_API_HOST="0.0.0.0"
PREFECT_API_URL='http://a:1/api'   
PREFECT_SERVER_API_BASE_PATH=/v2/api # inline comment
not a line
`)
	s := f.mustLoad()
	require.Equal(t, "0.0.0.0", value(t, s, "server.api.host").Parsed())
	require.Equal(t, "http://a:1/api", value(t, s, "api.url").Parsed())
	require.Equal(t, "/v2/api", value(t, s, "server.api.base_path").Parsed())
	require.Equal(t, SourceDotEnv, value(t, s, "server.api.host").Source.Kind)
}

func TestOverridesAcceptEnvNames(t *testing.T) {
	f := newFixture(t)
	f.over = map[string]string{"PREFECT_SERVER_API_HOST": "10.0.0.1"}
	require.Equal(t, "10.0.0.1", f.server().Host)
	f.over = map[string]string{"server.api.nope": "1"}
	_, err := f.load()
	require.ErrorContains(t, err, "server.api.nope")
}

func TestProfilesSave(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	path := filepath.Join(dir, "profiles.toml")
	p, err := ReadProfiles(path)
	require.NoError(t, err)
	require.False(t, p.Exists)
	require.Equal(t, []string{"cloud", "ephemeral", "local", "test"}, p.Names())
	p.Set("mine", map[string]any{"PREFECT_API_KEY": "k"})
	p.SetActive("mine")
	require.NoError(t, p.Save())

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	q, err := ReadProfiles(path)
	require.NoError(t, err)
	require.True(t, q.Exists)
	require.Equal(t, "mine", q.Active())
	require.Equal(t, []string{"cloud", "ephemeral", "local", "mine", "test"}, q.Names())
	v, _ := q.Get("local")
	require.Equal(t, "http://127.0.0.1:4200/api", v["PREFECT_API_URL"])
	_, ok := q.Get("cloud")
	require.True(t, ok, "empty profile survives")
	require.True(t, q.Delete("cloud"))
	require.False(t, q.Delete("cloud"))
}

func TestRegistry(t *testing.T) {
	// 225 leaves in prefect-settings.schema.json for prefect 3.9.1.
	require.Len(t, prefectDefs, 225)
	var secrets []string
	for _, d := range Defs() {
		require.NotEmpty(t, d.Env, d.Name)
		require.True(t, strings.HasPrefix(d.EnvVar(), "PREFECT_") || strings.HasPrefix(d.EnvVar(), "WARDEN_"), d.Name)
		if d.Secret {
			secrets = append(secrets, d.Name)
		}
	}
	require.ElementsMatch(t, []string{"api.auth_string", "api.key", "server.api.auth_string", "server.database.connection_url", "server.database.password"}, secrets)

	d, ok := Lookup("PREFECT_API_DATABASE_PASSWORD")
	require.True(t, ok)
	require.Equal(t, "server.database.password", d.Name)
	require.Equal(t, []string{"PREFECT_SERVER_DATABASE_PASSWORD", "PREFECT_API_DATABASE_PASSWORD"}, d.Env)
	d, ok = Lookup("server.api.csrf_token_expiration")
	require.True(t, ok)
	require.Equal(t, KindDuration, d.Kind)
	require.Equal(t, `"PT1H"`, d.Default)
	d, _ = Lookup("warden_log_format")
	require.Equal(t, "warden.log_format", d.Name)
	_, ok = Lookup("PREFECT_NOPE")
	require.False(t, ok)
}

func TestTestModeReadsButIgnoresProfiles(t *testing.T) {
	f := newFixture(t).env("PREFECT_TEST_MODE=1").profiles("active = \"mine\"\n[profiles.mine]\nPREFECT_SERVER_API_PORT = \"1\"\n")
	f.profile = "unknown-is-fine-in-test-mode"
	s := f.mustLoad()
	require.True(t, s.TestMode())
	require.Equal(t, int64(4200), value(t, s, "server.api.port").Parsed())

	sel, err := OpenProfiles(f.opts())
	require.NoError(t, err)
	require.Equal(t, []string{"mine"}, sel.Profiles.Names(), "the real file, not the template")
}
