package settings

// This file is the contract other packages build against while the loader is
// written. Keep these names stable; see doc.go for the loading rules.

import "time"

// Server is the typed view of the settings the Warden server consumes. It is
// derived from a loaded *Settings by (*Settings).Server(); derivations
// (ui api_url fallback, database URL assembly, empty auth string treated as
// unset) are applied there, never by consumers.
type Server struct {
	Home string // PREFECT_HOME, expanded

	Host       string // server.api.host
	Port       int    // server.api.port
	BasePath   string // server.api.base_path, normalised: "/api" when unset or empty, leading "/", no trailing "/"
	AuthString string // server.api.auth_string; "" means auth is off (an empty configured value is also "")
	// AuthStringEmpty reports that server.api.auth_string was set to "" (the
	// server warns and treats it as unset).
	AuthStringEmpty bool

	CSRFEnabled    bool          // server.api.csrf_protection_enabled
	CSRFExpiration time.Duration // server.api.csrf_token_expiration

	CORSAllowedOrigins []string // server.api.cors_allowed_origins split on ",", trimmed, empties dropped
	CORSAllowedMethods []string
	CORSAllowedHeaders []string

	DefaultLimit     int           // server.api.default_limit
	KeepaliveTimeout time.Duration // server.api.keepalive_timeout (Warden uses max(this, 30s) for idle)
	WSPingInterval   time.Duration // server.api.websocket_ping_interval
	WSPingTimeout    time.Duration // server.api.websocket_ping_timeout
	MaxParameterSize int           // server.api.max_parameter_size
	MaxRequestBody   int64         // warden: request body limit in bytes (WARDEN_SERVER_MAX_REQUEST_BODY, default 16 MiB)
	LoggingLevel     string        // server.logging_level (DEBUG/INFO/WARNING/ERROR/CRITICAL)
	LogFormat        string        // "text" or "json" (WARDEN_LOG_FORMAT, default text)
	AnalyticsEnabled bool          // server.analytics_enabled (Warden never phones home; reported only)
	PrefectVersion   string        // version string served by /api/admin/version (WARDEN_PREFECT_VERSION, default "3.9.1")

	UIEnabled                bool   // server.ui.enabled
	UIAPIURL                 string // server.ui.api_url → api.url → "http://{host}:{port}/api"
	UIServeBase              string // server.ui.serve_base, normalised ("/" default)
	UIShowPromotionalContent bool

	// DatabaseURL is the resolved connection URL: server.database.connection_url,
	// else assembled from server.database.driver/host/port/user/name/password,
	// else "sqlite:///<home>/warden.db". Secret: never log it unmasked.
	DatabaseURL     string
	DatabaseTimeout time.Duration // server.database.timeout
	MigrateOnStart  bool          // server.database.migrate_on_start

	Events EventsSettings

	// Background services (server.services.*).
	RepossessorEnabled  bool          // server.services.repossessor.enabled
	RepossessorInterval time.Duration // server.services.repossessor.loop_seconds

	TaskRunRecorderEnabled bool // server.services.task_run_recorder.enabled

	LateRuns            LateRunsSettings            // server.services.late_runs.*
	Foreman             ForemanSettings             // server.services.foreman.*
	CancellationCleanup CancellationCleanupSettings // server.services.cancellation_cleanup.*
	PauseExpirations    PauseExpirationsSettings    // server.services.pause_expirations.*
	Scheduler           SchedulerSettings           // server.services.scheduler.*

	// Concurrency slot waits (what clients are told to wait when full).
	MaxConcurrencySlotWait time.Duration // server.concurrency.maximum_concurrency_slot_wait_seconds
	TagConcurrencySlotWait time.Duration // server.tasks.tag_concurrency_slot_wait_seconds

	LogsStreamOutEnabled        bool // server.logs.stream_out_enabled: serve /logs/out
	LogsStreamPublishingEnabled bool // server.logs.stream_publishing_enabled: publish stored logs to the stream
	FlowRunGraphMaxNodes        int  // server.flow_run_graph.max_nodes
	FlowRunGraphMaxArtifacts    int  // server.flow_run_graph.max_artifacts
}

// EventsSettings are the server.events.* settings.
type EventsSettings struct {
	MaxNameLength    int           // maximum_event_name_length
	MaxLabels        int           // maximum_labels_per_resource
	MaxRelated       int           // maximum_related_resources
	MaxSizeBytes     int           // maximum_size_bytes
	MaxBackfill      time.Duration // maximum_websocket_backfill
	BackfillPageSize int           // websocket_backfill_page_size
	RetentionPeriod  time.Duration // retention_period
}

// LateRunsSettings are server.services.late_runs.*.
type LateRunsSettings struct {
	Enabled  bool
	Interval time.Duration // loop_seconds
	After    time.Duration // after_seconds: how overdue a scheduled run must be
}

// ForemanSettings are server.services.foreman.*.
type ForemanSettings struct {
	Enabled                   bool
	Interval                  time.Duration // loop_seconds
	InactivityHeartbeatMult   int           // inactivity_heartbeat_multiple
	FallbackHeartbeatInterval time.Duration // fallback_heartbeat_interval_seconds
	DeploymentPollTimeout     time.Duration // deployment_last_polled_timeout_seconds
	WorkQueuePollTimeout      time.Duration // work_queue_last_polled_timeout_seconds
}

// CancellationCleanupSettings are server.services.cancellation_cleanup.*.
type CancellationCleanupSettings struct {
	Enabled           bool
	Interval          time.Duration // loop_seconds
	CancellingTimeout time.Duration // cancelling_timeout_seconds
}

// PauseExpirationsSettings are server.services.pause_expirations.*.
type PauseExpirationsSettings struct {
	Enabled  bool
	Interval time.Duration // loop_seconds
}

// SchedulerSettings are server.services.scheduler.*.
type SchedulerSettings struct {
	Enabled                   bool
	Interval                  time.Duration // loop_seconds
	DeploymentBatchSize       int           // deployment_batch_size
	MaxRuns                   int           // max_runs
	MinRuns                   int           // min_runs
	MaxScheduledTime          time.Duration // max_scheduled_time
	MinScheduledTime          time.Duration // min_scheduled_time
	InsertBatchSize           int           // insert_batch_size
	RecentDeploymentsInterval time.Duration // recent_deployments_loop_seconds
}

// Client is the typed view of the client-side settings (api.*, client.*)
// used by Warden's CLI to build a client.Config. Derived by (*Settings).Client().
type Client struct {
	APIURL                string            // api.url ("" when unset)
	AuthString            string            // api.auth_string (secret)
	APIKey                string            // api.key (secret)
	RequestTimeout        time.Duration     // api.request_timeout
	TLSInsecureSkipVerify bool              // api.tls_insecure_skip_verify
	CSRFSupportEnabled    bool              // client.csrf_support_enabled
	CustomHeaders         map[string]string // client.custom_headers (JSON object)
	MaxRetries            int               // client.max_retries
	RetryJitterFactor     float64           // client.retry_jitter_factor
	RetryExtraCodes       []int             // client.retry_extra_codes
}

// Functions the loader provides (implemented in load.go and friends):
//
//	func Load(opts LoadOptions) (*Settings, error)
//	func (s *Settings) Server() (Server, error)
//	func (s *Settings) Client() (Client, error)
//	func (s *Settings) AdminJSON() map[string]any   // nested tree for GET /api/admin/settings, secrets "**********"
//	func (s *Settings) ActiveProfile() string
//
// LoadOptions:
//
//	type LoadOptions struct {
//		Environ   []string          // process environment, KEY=VALUE
//		Dir       string            // working directory (.env, prefect.toml, pyproject.toml)
//		Profile   string            // --profile flag; overrides PREFECT_PROFILE
//		Overrides map[string]string // dotted name → raw value, highest precedence (CLI flags such as --port)
//	}
