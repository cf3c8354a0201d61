package settings

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServerDefaults(t *testing.T) {
	f := newFixture(t)
	srv := f.server()
	require.Equal(t, Server{
		Home: f.home, Host: "127.0.0.1", Port: 4200, BasePath: "/api",
		CSRFExpiration:     time.Hour,
		CORSAllowedOrigins: []string{"*"}, CORSAllowedMethods: []string{"*"}, CORSAllowedHeaders: []string{"*"},
		DefaultLimit: 200, KeepaliveTimeout: 5 * time.Second, WSPingInterval: 20 * time.Second, WSPingTimeout: 20 * time.Second,
		MaxParameterSize: 524288, MaxRequestBody: 16 << 20, LoggingLevel: "WARNING", LogFormat: "text",
		AnalyticsEnabled: true, PrefectVersion: "3.9.1",
		UIEnabled: true, UIAPIURL: "http://127.0.0.1:4200/api", UIServeBase: "/", UIShowPromotionalContent: true,
		DatabaseURL: "sqlite:///" + f.home + "/warden.db", DatabaseTimeout: 10 * time.Second, MigrateOnStart: true,
		Events: EventsSettings{
			MaxNameLength: 1024, MaxLabels: 500, MaxRelated: 100, MaxSizeBytes: 1500000,
			MaxBackfill: 15 * time.Minute, BackfillPageSize: 250, RetentionPeriod: 7 * 24 * time.Hour,
		},
		RepossessorEnabled: true, RepossessorInterval: 15 * time.Second,
		TaskRunRecorderEnabled: true,
		LateRuns:               LateRunsSettings{Enabled: true, Interval: 5 * time.Second, After: 15 * time.Second},
		Foreman: ForemanSettings{Enabled: true, Interval: 15 * time.Second, InactivityHeartbeatMult: 3,
			FallbackHeartbeatInterval: 30 * time.Second, DeploymentPollTimeout: time.Minute, WorkQueuePollTimeout: time.Minute},
		CancellationCleanup: CancellationCleanupSettings{Enabled: true, Interval: 20 * time.Second, CancellingTimeout: 5 * time.Minute},
		PauseExpirations:    PauseExpirationsSettings{Enabled: true, Interval: 5 * time.Second},
		Scheduler: SchedulerSettings{Enabled: true, Interval: time.Minute, DeploymentBatchSize: 100, MaxRuns: 100, MinRuns: 3,
			MaxScheduledTime: 100 * 24 * time.Hour, MinScheduledTime: time.Hour, InsertBatchSize: 500, RecentDeploymentsInterval: 5 * time.Second},
		MaxConcurrencySlotWait: 30 * time.Second, TagConcurrencySlotWait: 10 * time.Second,
		FlowRunGraphMaxNodes: 10000, FlowRunGraphMaxArtifacts: 10000, // server.logs.stream_* default off
	}, srv)
}

func TestUIAPIURLFallbackChain(t *testing.T) {
	require.Equal(t, "https://ui/api", newFixture(t).env("PREFECT_SERVER_UI_API_URL=https://ui/api", "PREFECT_API_URL=https://api/api").server().UIAPIURL)
	require.Equal(t, "https://api/api", newFixture(t).env("PREFECT_API_URL=https://api/api").server().UIAPIURL)
	require.Equal(t, "http://0.0.0.0:4300/api", newFixture(t).env("PREFECT_SERVER_API_HOST=0.0.0.0", "PREFECT_SERVER_API_PORT=4300").server().UIAPIURL)
	require.Equal(t, "http://[::1]:4200/api", newFixture(t).env("PREFECT_SERVER_API_HOST=::1").server().UIAPIURL)
}

func TestBasePathAndServeBase(t *testing.T) {
	for in, want := range map[string]string{"": "/api", "/": "/api", "/v2/api/": "/v2/api", "v2/api": "/v2/api", "/api": "/api"} {
		require.Equal(t, want, newFixture(t).env("PREFECT_SERVER_API_BASE_PATH="+in).server().BasePath, in)
	}
	for in, want := range map[string]string{"/": "/", "": "/", "ui/": "/ui", "/x/y/": "/x/y"} {
		require.Equal(t, want, newFixture(t).env("PREFECT_UI_SERVE_BASE="+in).server().UIServeBase, in)
	}
}

func TestAuthStringAndCORS(t *testing.T) {
	srv := newFixture(t).env("PREFECT_SERVER_API_AUTH_STRING=").server()
	require.Equal(t, "", srv.AuthString)
	require.True(t, srv.AuthStringEmpty)

	srv = newFixture(t).env("PREFECT_SERVER_API_AUTH_STRING=admin:pw").server()
	require.Equal(t, "admin:pw", srv.AuthString)
	require.False(t, srv.AuthStringEmpty)

	srv = newFixture(t).env("PREFECT_SERVER_CORS_ALLOWED_ORIGINS= https://a.example , https://b.example,,").server()
	require.Equal(t, []string{"https://a.example", "https://b.example"}, srv.CORSAllowedOrigins)
}

func TestDatabaseURL(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string
		err  string
	}{
		{"explicit", []string{"PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://u:p@h/db"}, "postgresql+asyncpg://u:p@h/db", ""},
		{"legacy alias", []string{"PREFECT_API_DATABASE_CONNECTION_URL=sqlite:///x.db"}, "sqlite:///x.db", ""},
		{"placeholder substituted", []string{
			"PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://u:${PREFECT_SERVER_DATABASE_PASSWORD}@h/db",
			"PREFECT_API_DATABASE_PASSWORD=pw",
		}, "postgresql+asyncpg://u:pw@h/db", ""},
		{"legacy placeholder", []string{
			"PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://u:${PREFECT_API_DATABASE_PASSWORD}@h/db",
			"PREFECT_SERVER_DATABASE_PASSWORD=pw",
		}, "postgresql+asyncpg://u:pw@h/db", ""},
		{"placeholder without password", []string{
			"PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://u:${PREFECT_SERVER_DATABASE_PASSWORD}@h/db",
		}, "", "server.database.password (PREFECT_SERVER_DATABASE_PASSWORD) is not set"},
		{"assembled from host", []string{
			"PREFECT_SERVER_DATABASE_HOST=db.internal", "PREFECT_SERVER_DATABASE_USER=warden",
			"PREFECT_SERVER_DATABASE_NAME=orch", "PREFECT_SERVER_DATABASE_PASSWORD=p@ss/w:rd",
		}, "postgres://warden:p%40ss%2Fw%3Ard@db.internal:5432/orch", ""},
		{"assembled with driver and port", []string{
			"PREFECT_SERVER_DATABASE_DRIVER=postgresql+asyncpg", "PREFECT_SERVER_DATABASE_HOST=h",
			"PREFECT_SERVER_DATABASE_PORT=6543", "PREFECT_SERVER_DATABASE_USER=u", "PREFECT_SERVER_DATABASE_NAME=n",
		}, "postgresql+asyncpg://u@h:6543/n", ""},
		{"assembled missing parts", []string{"PREFECT_SERVER_DATABASE_HOST=h"}, "",
			"missing required database connection settings: server.database.user, server.database.name"},
		{"sqlite driver with name", []string{"PREFECT_SERVER_DATABASE_DRIVER=sqlite+aiosqlite", "PREFECT_SERVER_DATABASE_NAME=/data/w.db"}, "sqlite:////data/w.db", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := newFixture(t).env(tc.env...).mustLoad().Server()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, srv.DatabaseURL)
		})
	}
	t.Run("default is warden.db under PREFECT_HOME", func(t *testing.T) {
		f := newFixture(t)
		require.Equal(t, "sqlite:///"+filepath.Join(f.home, "warden.db"), f.server().DatabaseURL)
	})
	t.Run("invalid driver rejected at load", func(t *testing.T) {
		_, err := newFixture(t).env("PREFECT_SERVER_DATABASE_DRIVER=mysql").load()
		require.ErrorContains(t, err, "expected one of postgresql+asyncpg, sqlite+aiosqlite")
	})
}

func TestClientView(t *testing.T) {
	c, err := newFixture(t).env(
		"PREFECT_API_URL=http://h:1/api", "PREFECT_API_KEY=key", "PREFECT_API_AUTH_STRING=a:b",
		"PREFECT_API_REQUEST_TIMEOUT=1.5", `PREFECT_CLIENT_CUSTOM_HEADERS={"X-Proxy":"v"}`,
		"PREFECT_CLIENT_RETRY_EXTRA_CODES=429,503", "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED=false",
	).mustLoad().Client()
	require.NoError(t, err)
	require.Equal(t, Client{
		APIURL: "http://h:1/api", AuthString: "a:b", APIKey: "key", RequestTimeout: 1500 * time.Millisecond,
		CSRFSupportEnabled: false, CustomHeaders: map[string]string{"X-Proxy": "v"},
		MaxRetries: 5, RetryJitterFactor: 0.2, RetryExtraCodes: []int{429, 503},
	}, c)

	c, err = newFixture(t).file("prefect.toml", "[client.custom_headers]\nX-From-Toml = \"t\"\n").mustLoad().Client()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"X-From-Toml": "t"}, c.CustomHeaders)
	require.Equal(t, "", c.APIURL)
	require.Nil(t, c.RetryExtraCodes)
}

func TestAdminJSON(t *testing.T) {
	s := newFixture(t).env(
		"PREFECT_SERVER_API_AUTH_STRING=admin:hunter2", "PREFECT_API_KEY=", "PREFECT_SERVER_API_PORT=4300",
		"PREFECT_API_URL=http://127.0.0.1:4300/api",
	).mustLoad()
	tree := s.AdminJSON()
	b, err := json.Marshal(tree)
	require.NoError(t, err)
	require.NotContains(t, string(b), "hunter2")

	var got struct {
		Home   string `json:"home"`
		UIURL  string `json:"ui_url"`
		API    map[string]any
		Server struct {
			API      map[string]any `json:"api"`
			UI       map[string]any `json:"ui"`
			Database map[string]any `json:"database"`
			Events   map[string]any `json:"events"`
		} `json:"server"`
		Warden struct {
			Server         map[string]any `json:"server"`
			LogFormat      string         `json:"log_format"`
			PrefectVersion string         `json:"prefect_version"`
		} `json:"warden"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, AdminSecretMask, got.Server.API["auth_string"])
	require.Equal(t, "", got.API["key"], "empty secret serialises as empty")
	require.Nil(t, got.API["auth_string"], "unset secret is null")
	require.Contains(t, got.API, "auth_string")
	require.Equal(t, AdminSecretMask, got.Server.Database["connection_url"], "derived DB URL is masked")
	require.Nil(t, got.Server.Database["password"])
	require.Equal(t, float64(4300), got.Server.API["port"])
	require.Equal(t, "PT1H", got.Server.API["csrf_token_expiration"])
	require.Equal(t, "P7D", got.Server.Events["retention_period"])
	require.Equal(t, "http://127.0.0.1:4300/api", got.Server.UI["api_url"])
	require.Equal(t, "http://127.0.0.1:4300", got.UIURL)
	require.NotEmpty(t, got.Home)
	require.Equal(t, float64(16<<20), got.Warden.Server["max_request_body"])
	require.Equal(t, "text", got.Warden.LogFormat)
	require.Equal(t, "3.9.1", got.Warden.PrefectVersion)
}

func TestValuesListing(t *testing.T) {
	s := newFixture(t).
		env("PREFECT_SERVER_API_AUTH_STRING=admin:hunter2", "PREFECT_SERVER_API_PORT=4300").
		file("prefect.toml", "[server.ui]\nenabled = false\n").
		mustLoad()
	set := s.Values(false)
	var names []string
	for _, v := range set {
		names = append(names, v.Def.EnvVar())
	}
	require.Equal(t, []string{"PREFECT_HOME", "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_SERVER_API_PORT", "PREFECT_SERVER_EPHEMERAL_ENABLED", "PREFECT_SERVER_UI_ENABLED"}, names)
	require.Equal(t, "env", set[0].Source.Label())
	require.Equal(t, CLISecretMask, set[1].Display(false))
	require.Equal(t, "admin:hunter2", set[1].Display(true))
	require.Equal(t, "4300", set[2].Display(false))
	require.Equal(t, "profile", set[3].Source.Label())
	require.Equal(t, "False", set[4].Display(false))
	require.Equal(t, "prefect.toml", set[4].Source.Label())

	all := s.Values(true)
	require.Len(t, all, len(Defs()))
	for _, v := range all {
		switch v.Def.Name {
		case "api.request_timeout":
			require.Equal(t, "60.0", v.Display(false))
			require.Equal(t, "defaults", v.Source.Label())
		case "server.api.csrf_token_expiration":
			require.Equal(t, "PT1H", v.Display(false))
		case "api.url":
			require.Equal(t, "None", v.Display(false))
		case "api.key":
			require.Equal(t, CLISecretMask, v.Display(false))
		}
	}
}
