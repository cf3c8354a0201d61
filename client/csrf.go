package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// csrfDisabledText is the body text with which a Prefect server answers the
// token endpoint when CSRF protection is off.
const csrfDisabledText = "CSRF protection is disabled."

// csrfInvalidText marks a 403 caused by an unknown or expired token.
const csrfInvalidText = "Invalid CSRF token"

// csrfState is the per-client token state. lock is a one-slot semaphore
// rather than a mutex so waiting for a concurrent token fetch honours ctx;
// it guards every field but clientID, which never changes.
type csrfState struct {
	lock       chan struct{}
	clientID   string
	enabled    bool
	token      string
	expiration time.Time
}

func (s *csrfState) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *csrfState) release() { <-s.lock }

// csrfToken returns the token to send with a mutating request, fetching one
// when there is none or it has expired. "" means CSRF support is off (by
// configuration or because the server said so). Concurrent callers share one
// fetch: the lock is held across it.
func (c *Client) csrfToken(ctx context.Context) (string, error) {
	s := &c.csrf
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	if !s.enabled {
		return "", nil
	}
	// Valid strictly before expiration: Prefect's server accepts a token only
	// while expiration > now, so refreshing at the instant of expiry (Python
	// waits until now > expiration) saves a rejected round trip.
	if s.token != "" && c.now().Before(s.expiration) {
		return s.token, nil
	}
	s.token = ""
	// The fetch goes through the normal send path (auth, custom headers,
	// retries); being a GET it never re-enters csrfToken.
	path := "/csrf-token?client=" + url.QueryEscape(s.clientID)
	resp, err := c.send(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return "", fmt.Errorf("fetch CSRF token: %w", err)
	}
	if resp.status == http.StatusNotFound ||
		(resp.status == http.StatusUnprocessableEntity && strings.Contains(string(resp.body), csrfDisabledText)) {
		// An older server (404) or one with CSRF protection off: stop asking
		// for the lifetime of this client, as Prefect's client does.
		s.enabled = false
		return "", nil
	}
	if resp.status < 200 || resp.status > 299 {
		return "", fmt.Errorf("fetch CSRF token: %w", newAPIError(http.MethodGet, path, resp.status, resp.body))
	}
	var tok apitype.CsrfToken
	if err := json.Unmarshal(resp.body, &tok); err != nil {
		return "", fmt.Errorf("fetch CSRF token: decode response: %w", err)
	}
	if tok.Token == "" {
		return "", fmt.Errorf("fetch CSRF token: response has no token")
	}
	s.token, s.expiration = tok.Token, tok.Expiration
	return s.token, nil
}

// invalidateCSRF forgets token if it is still the current one, so that of
// several requests rejected with the same stale token only the first causes
// a new fetch.
func (c *Client) invalidateCSRF(ctx context.Context, token string) error {
	s := &c.csrf
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if s.token == token {
		s.token = ""
	}
	return nil
}

// csrfClientID is the value of Prefect-Csrf-Client.
func (c *Client) csrfClientID() string { return c.csrf.clientID }
