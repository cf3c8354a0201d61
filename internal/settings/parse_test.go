package settings

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseKinds(t *testing.T) {
	cases := []struct {
		env  string // NAME=VALUE
		name string
		want any
	}{
		{"PREFECT_SERVER_API_PORT= 4300 ", "server.api.port", int64(4300)},
		{"PREFECT_API_REQUEST_TIMEOUT=2.5", "api.request_timeout", 2.5},
		{"PREFECT_API_REQUEST_TIMEOUT=3", "api.request_timeout", 3.0},
		{"PREFECT_SERVER_UI_ENABLED=no", "server.ui.enabled", false},
		{"PREFECT_SERVER_UI_ENABLED=ON", "server.ui.enabled", true},
		{"PREFECT_SERVER_UI_ENABLED=1", "server.ui.enabled", true},
		{"PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION=PT2H30M", "server.api.csrf_token_expiration", 150 * time.Minute},
		{"PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION=P1DT1S", "server.api.csrf_token_expiration", 24*time.Hour + time.Second},
		{"PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION=90", "server.api.csrf_token_expiration", 90 * time.Second},
		{"PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION=PT0.5S", "server.api.csrf_token_expiration", 500 * time.Millisecond},
		{"PREFECT_SERVER_EVENTS_RETENTION_PERIOD=P2W", "server.events.retention_period", 14 * 24 * time.Hour},
		{`PREFECT_CLIENT_CUSTOM_HEADERS={"X-A": "1"}`, "client.custom_headers", map[string]any{"X-A": "1"}},
		{"PREFECT_CLIENT_RETRY_EXTRA_CODES=502, 429,429", "client.retry_extra_codes", []int{429, 502}},
		{"PREFECT_CLIENT_RETRY_EXTRA_CODES=[503]", "client.retry_extra_codes", []int{503}},
		{"PREFECT_LOGGING_EXTRA_LOGGERS=a, b,,c", "logging.extra_loggers", []string{"a", "b", "c"}},
		{`PREFECT_PLUGINS_ALLOW=["x","y"]`, "plugins.allow", []string{"x", "y"}},
		{"PREFECT_SERVER_LOGGING_LEVEL=debug", "server.logging_level", "DEBUG"},
		{"PREFECT_TASKS_DEFAULT_RETRY_DELAY_SECONDS=[1,2.5]", "tasks.default_retry_delay_seconds", []any{int64(1), 2.5}},
		{"PREFECT_TASKS_DEFAULT_RETRY_DELAY_SECONDS=soon", "tasks.default_retry_delay_seconds", "soon"},
		{"PREFECT_SERVER_SERVICES_DB_VACUUM_EVENT_RETENTION_OVERRIDES={\"a\":\"P1D\"}", "server.services.db_vacuum.event_retention_overrides", map[string]any{"a": 24 * time.Hour}},
		{"WARDEN_LOG_FORMAT=JSON", "warden.log_format", "json"},
	}
	for _, tc := range cases {
		t.Run(tc.env, func(t *testing.T) {
			s := newFixture(t).env(tc.env).mustLoad()
			require.Equal(t, tc.want, value(t, s, tc.name).Parsed())
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fixture)
		want  string
	}{
		{"int", func(f *fixture) { f.env("PREFECT_SERVER_API_PORT=http") },
			`invalid setting server.api.port from env var PREFECT_SERVER_API_PORT: expected an integer, got "http"`},
		{"float", func(f *fixture) { f.env("PREFECT_API_REQUEST_TIMEOUT=fast") },
			`invalid setting api.request_timeout from env var PREFECT_API_REQUEST_TIMEOUT: expected a number, got "fast"`},
		{"bool", func(f *fixture) { f.env("PREFECT_SERVER_UI_ENABLED=maybe") },
			`invalid setting server.ui.enabled from env var PREFECT_SERVER_UI_ENABLED: expected a boolean (true/false), got "maybe"`},
		{"duration", func(f *fixture) { f.env("PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION=1 hour") },
			`invalid setting server.api.csrf_token_expiration from env var PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION: expected a duration (ISO-8601 like PT1H, or seconds), got "1 hour"`},
		{"duration month unsupported", func(f *fixture) { f.env("PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION=P1M") },
			"expected a duration"},
		{"malformed JSON", func(f *fixture) { f.env(`PREFECT_CLIENT_CUSTOM_HEADERS={"X-A": `) },
			`invalid setting client.custom_headers from env var PREFECT_CLIENT_CUSTOM_HEADERS: expected a JSON object`},
		{"header value not a string", func(f *fixture) { f.env(`PREFECT_CLIENT_CUSTOM_HEADERS={"X-A": 1}`) },
			"expected a JSON object of string values"},
		{"int set item", func(f *fixture) { f.env("PREFECT_CLIENT_RETRY_EXTRA_CODES=429,abc") },
			"invalid setting client.retry_extra_codes from env var PREFECT_CLIENT_RETRY_EXTRA_CODES: expected a comma-separated list of integers"},
		{"int set range", func(f *fixture) { f.env("PREFECT_CLIENT_RETRY_EXTRA_CODES=99") },
			"expected a value of at least 100"},
		{"enum", func(f *fixture) { f.env("PREFECT_SERVER_LOGGING_LEVEL=LOUD") },
			"invalid setting server.logging_level from env var PREFECT_SERVER_LOGGING_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"},
		{"minimum", func(f *fixture) { f.env("PREFECT_CLIENT_MAX_RETRIES=-1") }, "expected a value of at least 0"},
		{"exclusive minimum", func(f *fixture) { f.env("PREFECT_SERVER_EVENTS_WEBSOCKET_BACKFILL_PAGE_SIZE=0") }, "expected a value greater than 0"},
		{".env source", func(f *fixture) { f.file(".env", "PREFECT_SERVER_API_PORT=x\n") },
			"invalid setting server.api.port from .env file key PREFECT_SERVER_API_PORT: expected an integer"},
		{"prefect.toml source", func(f *fixture) { f.file("prefect.toml", "[server.api]\nport = \"x\"\n") },
			"invalid setting server.api.port from prefect.toml: expected an integer"},
		{"pyproject source", func(f *fixture) { f.file("pyproject.toml", "[tool.prefect.server.api]\nport = 1.5\n") },
			"invalid setting server.api.port from pyproject.toml: expected an integer"},
		{"TOML string for bool kind", func(f *fixture) { f.file("prefect.toml", "[server.ui]\nenabled = \"sure\"\n") },
			"invalid setting server.ui.enabled from prefect.toml: expected a boolean"},
		{"profile source", func(f *fixture) { f.profiles("active = \"p\"\n[profiles.p]\nPREFECT_SERVER_API_PORT = \"x\"\n") },
			`invalid setting server.api.port from profile "p" key PREFECT_SERVER_API_PORT: expected an integer`},
		{"override source", func(f *fixture) { f.over = map[string]string{"server.api.port": "x"} },
			"invalid setting server.api.port from override server.api.port: expected an integer"},
		{"warden setting", func(f *fixture) { f.env("WARDEN_SERVER_MAX_REQUEST_BODY=0") },
			"invalid setting warden.server.max_request_body from env var WARDEN_SERVER_MAX_REQUEST_BODY: expected a value of at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			_, err := f.load()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n", "errors are one line")
		})
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-Value-123"
	cases := []struct {
		name  string
		setup func(f *fixture)
	}{
		{"auth string as TOML number", func(f *fixture) { f.file("prefect.toml", "[server.api]\nauth_string = 123456789\n") }},
		{"api key as TOML array", func(f *fixture) { f.file("prefect.toml", "[api]\nkey = [\""+secret+"\"]\n") }},
		{"password as TOML table", func(f *fixture) {
			f.file("pyproject.toml", "[tool.prefect.server.database]\npassword = [\""+secret+"\"]\n")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			_, err := f.load()
			require.ErrorContains(t, err, "expected a string")
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, err.Error(), "123456789")
			require.NotContains(t, err.Error(), "got")
		})
	}
	t.Run("placeholder without password names no URL", func(t *testing.T) {
		f := newFixture(t).env("PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://u:${PREFECT_SERVER_DATABASE_PASSWORD}@" + secret + "/db")
		_, err := f.mustLoad().Server()
		require.ErrorContains(t, err, "server.database.password")
		require.NotContains(t, err.Error(), secret)
	})
}

func TestDurationRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		iso string
		d   time.Duration
	}{
		{"PT0S", 0}, {"PT1H", time.Hour}, {"P7D", 7 * 24 * time.Hour}, {"P100D", 100 * 24 * time.Hour},
		{"PT15S", 15 * time.Second}, {"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"PT1.5S", 1500 * time.Millisecond}, {"-PT1M", -time.Minute},
	} {
		require.Equal(t, tc.iso, formatDuration(tc.d))
		got, ok := parseDuration(tc.iso)
		require.True(t, ok, tc.iso)
		require.Equal(t, tc.d, got, tc.iso)
	}
	for _, bad := range []string{"", "P", "PT", "P1H", "PT1D", "P1DT", "1h", "PTXS"} {
		_, ok := parseDuration(bad)
		require.False(t, ok, bad)
	}
}

func TestDefValidate(t *testing.T) {
	d, _ := Lookup("PREFECT_SERVER_API_PORT")
	require.NoError(t, d.Validate("4200"))
	require.EqualError(t, d.Validate("x"), `invalid setting server.api.port from the command line: expected an integer, got "x"`)
	d, _ = Lookup("PREFECT_API_KEY")
	require.NoError(t, d.Validate("pnu_whatever"))
}

// Custom headers carry Authorization/Proxy-Authorization and URLs carry
// userinfo: a bad value of either must not be quoted back.
func TestParseErrorsNeverEchoCredentials(t *testing.T) {
	for _, env := range []string{
		`PREFECT_CLIENT_CUSTOM_HEADERS={"Authorization": "Bearer sk-SECRET123", `,
		`PREFECT_CLIENT_CUSTOM_HEADERS=["Bearer sk-SECRET123"]`,
		`PREFECT_CLIENT_RETRY_EXTRA_CODES=sk-SECRET123`,
	} {
		f := newFixture(t)
		f.env(env)
		_, err := f.load()
		require.Error(t, err, env)
		require.NotContains(t, err.Error(), "SECRET123", env)
	}
	// Numbers are still quoted: they help and cannot be credentials.
	f := newFixture(t)
	f.env("PREFECT_SERVER_API_PORT=forty-two")
	_, err := f.load()
	require.ErrorContains(t, err, `got "forty-two"`)
}
