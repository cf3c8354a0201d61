package client

import (
	"context"
	"net/http"
)

// Hello calls GET /hello and returns the server's greeting.
func (c *Client) Hello(ctx context.Context) (string, error) {
	var s string
	_, err := c.Do(ctx, http.MethodGet, "/hello", nil, &s)
	return s, err
}

// Health calls GET /health; nil means the server answered 2xx.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.Do(ctx, http.MethodGet, "/health", nil, nil)
	return err
}

// Ready calls GET /ready; nil means the server (and its database) is ready.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.Do(ctx, http.MethodGet, "/ready", nil, nil)
	return err
}

// APIVersion calls GET /version: the server API version, e.g. "0.8.4".
func (c *Client) APIVersion(ctx context.Context) (string, error) {
	var s string
	_, err := c.Do(ctx, http.MethodGet, "/version", nil, &s)
	return s, err
}

// ServerVersion calls GET /admin/version: the Prefect version the server
// claims, e.g. "3.9.1".
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	var s string
	_, err := c.Do(ctx, http.MethodGet, "/admin/version", nil, &s)
	return s, err
}

// AdminSettings calls GET /admin/settings: the server's settings tree with
// secrets masked by the server.
func (c *Client) AdminSettings(ctx context.Context) (map[string]any, error) {
	var m map[string]any
	if _, err := c.Do(ctx, http.MethodGet, "/admin/settings", nil, &m); err != nil {
		return nil, err
	}
	return m, nil
}
