package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/settings"
)

// settingsApp is an App over a throwaway working dir and PREFECT_HOME.
func settingsApp(t *testing.T, environ ...string) (*App, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "prefect-home")
	env := append([]string{"HOME=" + t.TempDir(), "PREFECT_HOME=" + home}, environ...)
	return &App{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Environ: env, Dir: t.TempDir()}, home
}

func run(t *testing.T, app *App, args ...string) (string, error) {
	t.Helper()
	out := app.Stdout.(*bytes.Buffer)
	out.Reset()
	app.Profile = ""
	cmd := NewRootCommand(app)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func TestConfigViewNeverShowsSecretsUnlessAsked(t *testing.T) {
	const secret = "admin:Sup3r-S3cret"
	cases := []struct {
		label string
		setup func(t *testing.T, app *App, home string)
	}{
		{"env", func(t *testing.T, app *App, home string) {
			app.Environ = append(app.Environ, "PREFECT_SERVER_API_AUTH_STRING="+secret)
		}},
		{".env file", func(t *testing.T, app *App, home string) {
			writeFile(t, filepath.Join(app.Dir, ".env"), "PREFECT_SERVER_API_AUTH_STRING="+secret+"\n")
		}},
		{"prefect.toml", func(t *testing.T, app *App, home string) {
			writeFile(t, filepath.Join(app.Dir, "prefect.toml"), "[server.api]\nauth_string = \""+secret+"\"\n")
		}},
		{"pyproject.toml", func(t *testing.T, app *App, home string) {
			writeFile(t, filepath.Join(app.Dir, "pyproject.toml"), "[tool.prefect.server.api]\nauth_string = \""+secret+"\"\n")
		}},
		{"profile", func(t *testing.T, app *App, home string) {
			writeFile(t, filepath.Join(home, "profiles.toml"), "active = \"p\"\n[profiles.p]\nPREFECT_SERVER_API_AUTH_STRING = \""+secret+"\"\n")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.label, func(t *testing.T) {
			app, home := settingsApp(t)
			tc.setup(t, app, home)
			for _, args := range [][]string{
				{"config", "view"},
				{"config", "view", "--show-defaults"},
				{"config", "view", "--hide-sources"},
				{"config", "view", "--show-secrets", "--hide-secrets"},
			} {
				out, err := run(t, app, args...)
				require.NoError(t, err)
				require.NotContains(t, out, "Sup3r-S3cret", args)
				require.Contains(t, out, "PREFECT_SERVER_API_AUTH_STRING='********'", args)
			}
			out, err := run(t, app, "config", "view")
			require.NoError(t, err)
			require.Contains(t, out, "PREFECT_SERVER_API_AUTH_STRING='********' (from "+tc.label+")\n")

			out, err = run(t, app, "config", "view", "--show-secrets")
			require.NoError(t, err)
			require.Contains(t, out, "PREFECT_SERVER_API_AUTH_STRING='"+secret+"' (from "+tc.label+")\n")
		})
	}
}

func TestConfigViewFormat(t *testing.T) {
	app, _ := settingsApp(t, "PREFECT_SERVER_API_PORT=4300", "PREFECT_API_URL=http://127.0.0.1:4300/api")
	out, err := run(t, app, "config", "view")
	require.NoError(t, err)
	require.Contains(t, out, "you are connected to:\nhttp://127.0.0.1:4300\n")
	require.Contains(t, out, "PREFECT_PROFILE='ephemeral'\n")
	require.Contains(t, out, "PREFECT_SERVER_API_PORT='4300' (from env)\n")
	require.Contains(t, out, "PREFECT_SERVER_EPHEMERAL_ENABLED='true' (from profile)\n")
	require.NotContains(t, out, "(from defaults)")

	out, err = run(t, app, "config", "view", "--hide-sources", "--show-defaults")
	require.NoError(t, err)
	require.Contains(t, out, "PREFECT_SERVER_API_PORT='4300'\n")
	require.Contains(t, out, "PREFECT_API_REQUEST_TIMEOUT='60.0'\n")
	require.Contains(t, out, "PREFECT_API_KEY='********'\n")
	require.NotContains(t, out, "(from")

	app.Environ = append(app.Environ, "PREFECT_SERVER_API_PORT=nope")
	_, err = run(t, app, "config", "view")
	require.ErrorContains(t, err, "invalid setting server.api.port from env var PREFECT_SERVER_API_PORT")
}

func TestConfigSetUnset(t *testing.T) {
	app, home := settingsApp(t)
	path := filepath.Join(home, "profiles.toml")

	out, err := run(t, app, "config", "set", "PREFECT_SERVER_API_PORT=4300", "PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true")
	require.NoError(t, err)
	require.Contains(t, out, "Set 'PREFECT_SERVER_API_PORT' to '4300'.\n")
	require.Contains(t, out, "Updated profile 'ephemeral'.\n")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(home)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	s, err := app.LoadSettings()
	require.NoError(t, err)
	srv, err := s.Server()
	require.NoError(t, err)
	require.Equal(t, 4300, srv.Port)
	require.True(t, srv.CSRFEnabled)
	p, err := settings.ReadProfiles(path)
	require.NoError(t, err)
	vals, _ := p.Get("ephemeral")
	require.Equal(t, map[string]any{
		"PREFECT_SERVER_EPHEMERAL_ENABLED":           "true",
		"PREFECT_SERVER_API_PORT":                    "4300",
		"PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true", // stored under the canonical name
	}, vals)
	require.Equal(t, []string{"cloud", "ephemeral", "local", "test"}, p.Names(), "other profiles preserved")

	before, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, bad := range [][]string{
		{"PREFECT_SERVER_API_PORT=abc"},
		{"PREFECT_NOT_A_SETTING=1"},
		{"PREFECT_HOME=/tmp/x"},
		{"PREFECT_SERVER_API_PORT"},
		{"PREFECT_SERVER_API_HOST=ok", "PREFECT_CLIENT_CUSTOM_HEADERS={bad"},
	} {
		_, err := run(t, app, append([]string{"config", "set"}, bad...)...)
		require.Error(t, err, bad)
	}
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "rejected input leaves the file untouched")

	out, err = run(t, app, "config", "set", "PREFECT_API_KEY=pnu_topsecret")
	require.NoError(t, err)
	require.NotContains(t, out, "topsecret")
	require.Contains(t, out, "Set 'PREFECT_API_KEY' to '********'.")

	app.Environ = append(app.Environ, "PREFECT_SERVER_API_PORT=5000")
	out, err = run(t, app, "config", "unset", "PREFECT_SERVER_API_PORT", "PREFECT_SERVER_CSRF_PROTECTION_ENABLED")
	require.NoError(t, err)
	require.Contains(t, out, "Unset 'PREFECT_SERVER_API_PORT'.\n")
	require.Contains(t, out, "'PREFECT_SERVER_API_PORT' is also set by an environment variable.")
	p, err = settings.ReadProfiles(path)
	require.NoError(t, err)
	vals, _ = p.Get("ephemeral")
	require.NotContains(t, vals, "PREFECT_SERVER_API_PORT")
	require.NotContains(t, vals, "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED")

	_, err = run(t, app, "config", "unset", "PREFECT_SERVER_API_PORT")
	require.EqualError(t, err, "'PREFECT_SERVER_API_PORT' is not set in profile 'ephemeral'")
}

func TestConfigSetFixesInvalidStoredValue(t *testing.T) {
	app, home := settingsApp(t)
	writeFile(t, filepath.Join(home, "profiles.toml"), "active = \"p\"\n[profiles.p]\nPREFECT_SERVER_API_PORT = \"bad\"\n")
	_, err := run(t, app, "config", "view")
	require.ErrorContains(t, err, `profile "p" key PREFECT_SERVER_API_PORT`)
	_, err = run(t, app, "config", "set", "PREFECT_SERVER_API_PORT=4201")
	require.NoError(t, err)
	out, err := run(t, app, "config", "view")
	require.NoError(t, err)
	require.Contains(t, out, "PREFECT_SERVER_API_PORT='4201' (from profile)")
}

func TestProfileCommands(t *testing.T) {
	app, home := settingsApp(t)
	path := filepath.Join(home, "profiles.toml")

	out, err := run(t, app, "profile", "ls")
	require.NoError(t, err)
	require.Equal(t, "Available Profiles:\n  cloud\n* ephemeral\n  local\n  test\n", out)

	_, err = run(t, app, "profile", "create", "dev")
	require.NoError(t, err)
	_, err = run(t, app, "profile", "create", "dev")
	require.ErrorContains(t, err, "profile 'dev' already exists")
	_, err = run(t, app, "profile", "create", "copy", "--from", "local")
	require.NoError(t, err)
	_, err = run(t, app, "profile", "create", "x", "--from", "missing")
	require.ErrorContains(t, err, "profile 'missing' not found")

	out, err = run(t, app, "profile", "use", "dev")
	require.NoError(t, err)
	require.Contains(t, out, "Switched to profile 'dev'.")
	_, err = run(t, app, "profile", "use", "nope")
	require.ErrorContains(t, err, "profile 'nope' not found")

	_, err = run(t, app, "config", "set", "PREFECT_API_AUTH_STRING=u:hidden-pw", "PREFECT_API_URL=http://h/api")
	require.NoError(t, err)
	out, err = run(t, app, "profile", "inspect")
	require.NoError(t, err)
	require.Equal(t, "No name provided, defaulting to 'dev'\nPREFECT_API_AUTH_STRING='********'\nPREFECT_API_URL='http://h/api'\n", out)
	out, err = run(t, app, "profile", "inspect", "dev", "--show-secrets")
	require.NoError(t, err)
	require.Contains(t, out, "PREFECT_API_AUTH_STRING='u:hidden-pw'")
	out, err = run(t, app, "profile", "inspect", "copy")
	require.NoError(t, err)
	require.Equal(t, "PREFECT_API_URL='http://127.0.0.1:4200/api'\n", out)
	out, err = run(t, app, "profile", "inspect", "cloud")
	require.NoError(t, err)
	require.Equal(t, "Profile 'cloud' is empty.\n", out)

	_, err = run(t, app, "profile", "delete", "dev")
	require.ErrorContains(t, err, "is the active profile")
	_, err = run(t, app, "profile", "rename", "dev", "copy")
	require.ErrorContains(t, err, "profile 'copy' already exists")
	_, err = run(t, app, "profile", "rename", "dev", "main")
	require.NoError(t, err)
	_, err = run(t, app, "profile", "delete", "copy")
	require.NoError(t, err)

	p, err := settings.ReadProfiles(path)
	require.NoError(t, err)
	require.Equal(t, "main", p.Active())
	require.Equal(t, []string{"cloud", "ephemeral", "local", "main", "test"}, p.Names())

	s, err := app.LoadSettings()
	require.NoError(t, err)
	require.Equal(t, "main", s.ActiveProfile())
	c, err := s.Client()
	require.NoError(t, err)
	require.Equal(t, "http://h/api", c.APIURL)

	// --profile selects a profile for one command.
	out, err = run(t, app, "--profile", "local", "config", "view")
	require.NoError(t, err)
	require.Contains(t, out, "PREFECT_PROFILE='local'\n")
	require.Contains(t, out, "PREFECT_API_URL='http://127.0.0.1:4200/api' (from profile)\n")
}
