package settings

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Secret masks: Prefect's CLI prints 8 asterisks, pydantic's SecretStr
// serialises as 10 (what /api/admin/settings returns).
const (
	CLISecretMask   = "********"
	AdminSecretMask = "**********"
)

func decodeJSON(s string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return normalizeTOML(v), nil
}

func (s *Settings) val(name string) any {
	v, ok := s.vals[name]
	if !ok {
		panic("settings: unknown setting " + name) // a typo in this package
	}
	return v.val
}

func (s *Settings) str(name string) string        { x, _ := s.val(name).(string); return x }
func (s *Settings) integer(name string) int64     { x, _ := s.val(name).(int64); return x }
func (s *Settings) float(name string) float64     { x, _ := s.val(name).(float64); return x }
func (s *Settings) boolean(name string) bool      { x, _ := s.val(name).(bool); return x }
func (s *Settings) dur(name string) time.Duration { x, _ := s.val(name).(time.Duration); return x }

func (s *Settings) seconds(name string) time.Duration {
	return time.Duration(s.float(name) * float64(time.Second))
}

func (s *Settings) strOK(name string) (string, bool) {
	x, ok := s.val(name).(string)
	return x, ok
}

// Server derives the server's typed view.
func (s *Settings) Server() (Server, error) {
	dbURL, err := s.databaseURL()
	if err != nil {
		return Server{}, err
	}
	auth, authSet := s.strOK("server.api.auth_string")
	return Server{
		Home:               s.home,
		Host:               s.str("server.api.host"),
		Port:               int(s.integer("server.api.port")),
		BasePath:           normalizeBasePath(s.str("server.api.base_path")),
		AuthString:         auth,
		AuthStringEmpty:    authSet && auth == "",
		CSRFEnabled:        s.boolean("server.api.csrf_protection_enabled"),
		CSRFExpiration:     s.dur("server.api.csrf_token_expiration"),
		CORSAllowedOrigins: splitList(s.str("server.api.cors_allowed_origins")),
		CORSAllowedMethods: splitList(s.str("server.api.cors_allowed_methods")),
		CORSAllowedHeaders: splitList(s.str("server.api.cors_allowed_headers")),
		DefaultLimit:       int(s.integer("server.api.default_limit")),
		KeepaliveTimeout:   time.Duration(s.integer("server.api.keepalive_timeout")) * time.Second,
		WSPingInterval:     s.seconds("server.api.websocket_ping_interval"),
		WSPingTimeout:      s.seconds("server.api.websocket_ping_timeout"),
		MaxParameterSize:   int(s.integer("server.api.max_parameter_size")),
		MaxRequestBody:     s.integer("warden.server.max_request_body"),
		LoggingLevel:       s.str("server.logging_level"),
		LogFormat:          s.str("warden.log_format"),
		AnalyticsEnabled:   s.boolean("server.analytics_enabled"),
		PrefectVersion:     s.str("warden.prefect_version"),

		UIEnabled:                s.boolean("server.ui.enabled"),
		UIAPIURL:                 s.uiAPIURL(),
		UIServeBase:              normalizeServeBase(s.str("server.ui.serve_base")),
		UIShowPromotionalContent: s.boolean("server.ui.show_promotional_content"),

		DatabaseURL:     dbURL,
		DatabaseTimeout: s.seconds("server.database.timeout"),
		MigrateOnStart:  s.boolean("server.database.migrate_on_start"),

		Events: EventsSettings{
			MaxNameLength:    int(s.integer("server.events.maximum_event_name_length")),
			MaxLabels:        int(s.integer("server.events.maximum_labels_per_resource")),
			MaxRelated:       int(s.integer("server.events.maximum_related_resources")),
			MaxSizeBytes:     int(s.integer("server.events.maximum_size_bytes")),
			MaxBackfill:      s.dur("server.events.maximum_websocket_backfill"),
			BackfillPageSize: int(s.integer("server.events.websocket_backfill_page_size")),
			RetentionPeriod:  s.dur("server.events.retention_period"),
		},
		RepossessorEnabled:     s.boolean("server.services.repossessor.enabled"),
		RepossessorInterval:    s.seconds("server.services.repossessor.loop_seconds"),
		MaxConcurrencySlotWait: s.seconds("server.concurrency.maximum_concurrency_slot_wait_seconds"),
		TagConcurrencySlotWait: s.seconds("server.tasks.tag_concurrency_slot_wait_seconds"),
		TaskRunRecorderEnabled: s.boolean("server.services.task_run_recorder.enabled"),
		LateRuns: LateRunsSettings{
			Enabled:  s.boolean("server.services.late_runs.enabled"),
			Interval: s.seconds("server.services.late_runs.loop_seconds"),
			After:    s.dur("server.services.late_runs.after_seconds"),
		},
		Foreman: ForemanSettings{
			Enabled:                   s.boolean("server.services.foreman.enabled"),
			Interval:                  s.seconds("server.services.foreman.loop_seconds"),
			InactivityHeartbeatMult:   int(s.integer("server.services.foreman.inactivity_heartbeat_multiple")),
			FallbackHeartbeatInterval: time.Duration(s.integer("server.services.foreman.fallback_heartbeat_interval_seconds")) * time.Second,
			DeploymentPollTimeout:     time.Duration(s.integer("server.services.foreman.deployment_last_polled_timeout_seconds")) * time.Second,
			WorkQueuePollTimeout:      time.Duration(s.integer("server.services.foreman.work_queue_last_polled_timeout_seconds")) * time.Second,
		},
		CancellationCleanup: CancellationCleanupSettings{
			Enabled:           s.boolean("server.services.cancellation_cleanup.enabled"),
			Interval:          s.seconds("server.services.cancellation_cleanup.loop_seconds"),
			CancellingTimeout: s.seconds("server.services.cancellation_cleanup.cancelling_timeout_seconds"),
		},
		PauseExpirations: PauseExpirationsSettings{
			Enabled:  s.boolean("server.services.pause_expirations.enabled"),
			Interval: s.seconds("server.services.pause_expirations.loop_seconds"),
		},
		Scheduler: SchedulerSettings{
			Enabled:                   s.boolean("server.services.scheduler.enabled"),
			Interval:                  s.seconds("server.services.scheduler.loop_seconds"),
			DeploymentBatchSize:       int(s.integer("server.services.scheduler.deployment_batch_size")),
			MaxRuns:                   int(s.integer("server.services.scheduler.max_runs")),
			MinRuns:                   int(s.integer("server.services.scheduler.min_runs")),
			MaxScheduledTime:          s.dur("server.services.scheduler.max_scheduled_time"),
			MinScheduledTime:          s.dur("server.services.scheduler.min_scheduled_time"),
			InsertBatchSize:           int(s.integer("server.services.scheduler.insert_batch_size")),
			RecentDeploymentsInterval: s.seconds("server.services.scheduler.recent_deployments_loop_seconds"),
		},

		LogsStreamOutEnabled:        s.boolean("server.logs.stream_out_enabled"),
		LogsStreamPublishingEnabled: s.boolean("server.logs.stream_publishing_enabled"),
		FlowRunGraphMaxNodes:        int(s.integer("server.flow_run_graph.max_nodes")),
		FlowRunGraphMaxArtifacts:    int(s.integer("server.flow_run_graph.max_artifacts")),
	}, nil
}

// Client derives the client's typed view.
func (s *Settings) Client() (Client, error) {
	headers := map[string]string{}
	if m, ok := s.val("client.custom_headers").(map[string]any); ok {
		for k, v := range m {
			headers[k], _ = v.(string) // values were validated as strings at load
		}
	}
	codes, _ := s.val("client.retry_extra_codes").([]int)
	return Client{
		APIURL:                s.str("api.url"),
		AuthString:            s.str("api.auth_string"),
		APIKey:                s.str("api.key"),
		RequestTimeout:        s.seconds("api.request_timeout"),
		TLSInsecureSkipVerify: s.boolean("api.tls_insecure_skip_verify"),
		CSRFSupportEnabled:    s.boolean("client.csrf_support_enabled"),
		CustomHeaders:         headers,
		MaxRetries:            int(s.integer("client.max_retries")),
		RetryJitterFactor:     s.float("client.retry_jitter_factor"),
		RetryExtraCodes:       codes,
	}, nil
}

// uiAPIURL: server.ui.api_url → api.url → http://{host}:{port}/api, as
// Prefect's post-hoc default.
func (s *Settings) uiAPIURL() string {
	if u, ok := s.strOK("server.ui.api_url"); ok {
		return u
	}
	if u := s.str("api.url"); u != "" {
		return u
	}
	return fmt.Sprintf("http://%s/api", net.JoinHostPort(s.str("server.api.host"), strconv.FormatInt(s.integer("server.api.port"), 10)))
}

// uiURL is Prefect's default_ui_url: ui_url, else api.url without /api.
func (s *Settings) uiURL() string {
	if u, ok := s.strOK("ui_url"); ok {
		return u
	}
	u := s.str("api.url")
	if u == "" {
		return ""
	}
	cloudAPI, cloudUI := s.str("cloud.api_url"), s.str("cloud.ui_url")
	if cloudAPI != "" && cloudUI != "" && strings.HasPrefix(u, cloudAPI) {
		u = strings.Replace(u, cloudAPI, cloudUI, 1)
	}
	u = strings.TrimSuffix(u, "/api")
	u = strings.ReplaceAll(u, "/api/", "/")
	u = strings.ReplaceAll(u, "/accounts/", "/account/")
	return strings.ReplaceAll(u, "/workspaces/", "/workspace/")
}

// UIURL is the UI address a CLI user is "connected to" (Prefect's ui_url), "" when unknown.
func (s *Settings) UIURL() string { return s.uiURL() }

var passwordPlaceholders = []string{"${PREFECT_SERVER_DATABASE_PASSWORD}", "${PREFECT_API_DATABASE_PASSWORD}"}

// databaseURL resolves the connection URL. Errors never include the URL or
// password.
func (s *Settings) databaseURL() (string, error) {
	password, passwordSet := s.strOK("server.database.password")
	if u, ok := s.strOK("server.database.connection_url"); ok {
		if strings.Contains(u, "PREFECT_SERVER_DATABASE_PASSWORD") || strings.Contains(u, "PREFECT_API_DATABASE_PASSWORD") {
			if !passwordSet {
				return "", fmt.Errorf("server.database.connection_url references the database password but server.database.password (PREFECT_SERVER_DATABASE_PASSWORD) is not set")
			}
			for _, p := range passwordPlaceholders {
				u = strings.ReplaceAll(u, p, password)
			}
		}
		return u, nil
	}
	driver, host, name := s.str("server.database.driver"), s.str("server.database.host"), s.str("server.database.name")
	switch {
	case driver == "postgresql+asyncpg" || (driver == "" && host != ""):
		var missing []string
		for _, f := range []string{"host", "user", "name"} {
			if s.str("server.database."+f) == "" {
				missing = append(missing, "server.database."+f)
			}
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("missing required database connection settings: %s", strings.Join(missing, ", "))
		}
		port := s.integer("server.database.port")
		if port == 0 {
			port = 5432
		}
		scheme := "postgres"
		if driver != "" {
			scheme = driver
		}
		u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.FormatInt(port, 10)), Path: "/" + name}
		u.User = url.User(s.str("server.database.user"))
		if passwordSet {
			u.User = url.UserPassword(s.str("server.database.user"), password)
		}
		return u.String(), nil
	case driver == "sqlite+aiosqlite" && name != "":
		return "sqlite:///" + name, nil
	case driver != "" && driver != "sqlite+aiosqlite":
		return "", fmt.Errorf("unsupported database driver %q (server.database.driver)", driver)
	}
	// Never Prefect's prefect.db: its schema is not Warden's.
	return "sqlite:///" + s.home + "/warden.db", nil
}

func normalizeBasePath(p string) string {
	p = strings.TrimRight(strings.TrimSpace(p), "/")
	if p == "" {
		return "/api"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

func normalizeServeBase(p string) string {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" {
		return "/"
	}
	return "/" + p
}

// splitList splits a comma list, trimming items and dropping empties
// (Prefect keeps the spaces, which then never match).
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// AdminJSON is the nested settings tree GET /api/admin/settings returns,
// with derived values filled in and secrets masked as pydantic does:
// "**********", "" for an empty secret, null when unset.
func (s *Settings) AdminJSON() map[string]any {
	root := map[string]any{}
	for _, d := range allDefs {
		v := s.vals[d.Name].val
		switch d.Name {
		case "server.ui.api_url":
			v = s.uiAPIURL()
		case "ui_url":
			if u := s.uiURL(); u != "" {
				v = u
			}
		case "server.database.connection_url":
			if v == nil {
				v = "derived" // the derived URL is never empty, so it is masked
			}
		case "logging.level", "internal.logging_level":
			if s.boolean("debug_mode") || s.boolean("testing.test_mode") {
				v = "DEBUG"
			}
		}
		setPath(root, strings.Split(d.Name, "."), adminValue(d, v))
	}
	return root
}

func adminValue(d *Def, v any) any {
	if d.Secret {
		switch x := v.(type) {
		case nil:
			return nil
		case string:
			if x == "" {
				return ""
			}
		}
		return AdminSecretMask
	}
	return jsonable(v)
}

func jsonable(v any) any {
	switch x := v.(type) {
	case time.Duration:
		return formatDuration(x)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	}
	return v
}

func setPath(root map[string]any, segs []string, v any) {
	for _, s := range segs[:len(segs)-1] {
		next, ok := root[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			root[s] = next
		}
		root = next
	}
	root[segs[len(segs)-1]] = v
}

// Display renders the value as `config view` prints it: the raw text from
// its source, or the default; secrets as CLISecretMask unless showSecrets.
func (v Value) Display(showSecrets bool) string {
	if v.Def.Secret && !showSecrets {
		return CLISecretMask
	}
	if v.Raw != nil {
		if s, ok := v.Raw.(string); ok {
			return s
		}
		return pyString(normalizeTOML(v.Raw))
	}
	return pyString(jsonable(v.val))
}

// pyString formats like Python's str() so output matches Prefect's CLI.
func pyString(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
