package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Version is this SDK's version, sent in the User-Agent. Overridable at link
// time with -ldflags "-X github.com/warden-orchestration/warden/client.Version=...".
var Version = "0.1.0-dev"

// APIVersion is the Prefect server API version this client speaks; it is
// sent as X-PREFECT-API-VERSION.
const APIVersion = "0.8.4"

// Defaults of the Prefect client settings, as DefaultConfig sets them.
const (
	DefaultMaxRetries        = 5                // client.max_retries
	DefaultRetryJitterFactor = 0.2              // client.retry_jitter_factor
	DefaultRequestTimeout    = 60 * time.Second // api.request_timeout
)

// protectedHeaders may not be set through CustomHeaders: the client manages
// them (same list and wording as Prefect's Python client).
var protectedHeaders = map[string]bool{
	"user-agent":          true,
	"prefect-csrf-token":  true,
	"prefect-csrf-client": true,
}

// Config configures a Client. Numeric fields are taken literally by New, so
// MaxRetries 0 means "no retries" and RetryJitterFactor 0 means "no jitter";
// start from DefaultConfig to get Prefect's defaults.
type Config struct {
	APIURL             string            // e.g. http://127.0.0.1:4200/api; userinfo is stripped from every message
	AuthString         string            // api.auth_string → Authorization: Basic base64(AuthString)
	APIKey             string            // api.key → Authorization: Bearer <key>
	CustomHeaders      map[string]string // client.custom_headers
	CSRFSupportEnabled bool              // client.csrf_support_enabled (true in DefaultConfig)
	MaxRetries         int               // client.max_retries
	RetryJitterFactor  float64           // client.retry_jitter_factor
	RetryExtraCodes    []int             // client.retry_extra_codes
	RequestTimeout     time.Duration     // per attempt; 0 → DefaultRequestTimeout
	HTTPClient         *http.Client      // optional; nil → a client owned (and closed) by Client
	Logger             *slog.Logger      // warnings go here; nil → slog.Default()
	UserAgent          string            // "" → "warden-client/<Version> (API 0.8.4)"

	// Sleep waits between retries; nil → a timer that honours ctx. Test hook.
	Sleep func(context.Context, time.Duration) error
	// Now is the clock for CSRF token expiry and Retry-After dates; nil → time.Now.
	Now func() time.Time
}

// DefaultConfig returns a Config for apiURL with Prefect's client defaults.
func DefaultConfig(apiURL string) Config {
	return Config{
		APIURL:             apiURL,
		CSRFSupportEnabled: true,
		MaxRetries:         DefaultMaxRetries,
		RetryJitterFactor:  DefaultRetryJitterFactor,
		RequestTimeout:     DefaultRequestTimeout,
	}
}

// Client talks to one Prefect-compatible API. It is safe for concurrent use.
type Client struct {
	base       *url.URL    // API URL, may carry userinfo (used by net/http as Basic auth, never printed)
	header     http.Header // defaults + auth + custom headers, applied to every request
	host       string      // custom Host header, if any (net/http ignores Header["Host"])
	httpClient *http.Client
	ownsHTTP   bool
	logger     *slog.Logger
	timeout    time.Duration
	maxRetries int
	jitter     float64
	retryCodes map[int]bool
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time

	csrf csrfState
}

// New validates cfg and builds a Client. Configuration warnings (ignored
// protected headers, API key vs auth string) are logged once, here.
func New(cfg Config) (*Client, error) {
	base, err := parseAPIURL(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:       base,
		httpClient: cfg.HTTPClient,
		logger:     cfg.Logger,
		timeout:    cfg.RequestTimeout,
		maxRetries: max(cfg.MaxRetries, 0),
		jitter:     max(cfg.RetryJitterFactor, 0),
		retryCodes: map[int]bool{
			http.StatusRequestTimeout:     true,
			http.StatusTooManyRequests:    true,
			http.StatusBadGateway:         true,
			http.StatusServiceUnavailable: true,
		},
		sleep: cfg.Sleep,
		now:   cfg.Now,
	}
	for _, code := range cfg.RetryExtraCodes {
		c.retryCodes[code] = true
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.ownsHTTP = true
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	userAgent := cfg.UserAgent
	if userAgent == "" {
		userAgent = "warden-client/" + Version + " (API " + APIVersion + ")"
	}
	c.header = c.buildHeader(cfg, userAgent)
	c.csrf = csrfState{
		enabled:  cfg.CSRFSupportEnabled,
		clientID: uuid.NewString(),
		lock:     make(chan struct{}, 1),
	}
	return c, nil
}

// buildHeader assembles the per-client headers in Prefect's order: defaults,
// then authorization, then custom headers (which may override both).
func (c *Client) buildHeader(cfg Config, userAgent string) http.Header {
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("X-PREFECT-API-VERSION", APIVersion)
	h.Set("Accept", "application/json")

	customAuth := false
	for name := range cfg.CustomHeaders {
		if strings.EqualFold(name, "Authorization") {
			customAuth = true
		}
	}
	switch {
	case cfg.APIKey != "":
		if cfg.AuthString != "" && !customAuth {
			c.logger.Warn("Both api.key (PREFECT_API_KEY) and api.auth_string (PREFECT_API_AUTH_STRING) are set; " +
				"this client sends the API key ('Authorization: Bearer'), as Prefect's security guide specifies. " +
				"A self-hosted server configured only with an auth string will answer 401 Unauthorized. " +
				"Note that current Prefect Python clients do the opposite and send the auth string. " +
				"Unset one of the two settings.")
		}
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	case cfg.AuthString != "":
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.AuthString)))
	}

	// Sorted so warnings come out in a stable order.
	names := make([]string, 0, len(cfg.CustomHeaders))
	for name := range cfg.CustomHeaders {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if protectedHeaders[strings.ToLower(name)] {
			c.logger.Warn(fmt.Sprintf("Custom header '%s' is ignored because it conflicts with a protected header "+
				"managed by Prefect. Protected headers include: User-Agent, Prefect-Csrf-Token, Prefect-Csrf-Client", name))
			continue
		}
		if strings.EqualFold(name, "Host") {
			c.host = cfg.CustomHeaders[name]
			continue
		}
		h.Set(name, cfg.CustomHeaders[name])
	}
	return h
}

// Close releases idle connections of the HTTP client the Client created. A
// caller-supplied Config.HTTPClient is left alone.
func (c *Client) Close() error {
	if c.ownsHTTP {
		c.httpClient.CloseIdleConnections()
	}
	return nil
}

// parseAPIURL checks the API URL. Its error never contains the URL, which may
// carry credentials.
func parseAPIURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("API URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("parse API URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("API URL %s: scheme must be http or https", redactURL(u))
	}
	if u.Host == "" {
		return nil, errors.New("API URL has no host")
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// redactURL renders u without userinfo and query, for messages.
func redactURL(u *url.URL) string {
	r := *u
	r.User = nil
	r.RawQuery, r.ForceQuery = "", false
	r.Fragment, r.RawFragment = "", ""
	return r.String()
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
