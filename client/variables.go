package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// CreateVariable calls POST /variables/; a taken name is a 409 (IsConflict).
func (c *Client) CreateVariable(ctx context.Context, in apitype.VariableCreate) (*apitype.Variable, error) {
	var v apitype.Variable
	if _, err := c.Do(ctx, http.MethodPost, "/variables/", in, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ReadVariable calls GET /variables/{id}.
func (c *Client) ReadVariable(ctx context.Context, id uuid.UUID) (*apitype.Variable, error) {
	var v apitype.Variable
	if _, err := c.Do(ctx, http.MethodGet, "/variables/"+id.String(), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ReadVariableByName calls GET /variables/name/{name}.
func (c *Client) ReadVariableByName(ctx context.Context, name string) (*apitype.Variable, error) {
	var v apitype.Variable
	if _, err := c.Do(ctx, http.MethodGet, "/variables/name/"+url.PathEscape(name), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ReadVariables calls POST /variables/filter.
func (c *Client) ReadVariables(ctx context.Context, filter apitype.VariableFilterBody) ([]apitype.Variable, error) {
	var vars []apitype.Variable
	if _, err := c.Do(ctx, http.MethodPost, "/variables/filter", filter, &vars); err != nil {
		return nil, err
	}
	return vars, nil
}

// UpdateVariableByName calls PATCH /variables/name/{name}.
func (c *Client) UpdateVariableByName(ctx context.Context, name string, in apitype.VariableUpdate) error {
	_, err := c.Do(ctx, http.MethodPatch, "/variables/name/"+url.PathEscape(name), in, nil)
	return err
}

// DeleteVariableByName calls DELETE /variables/name/{name}.
func (c *Client) DeleteVariableByName(ctx context.Context, name string) error {
	_, err := c.Do(ctx, http.MethodDelete, "/variables/name/"+url.PathEscape(name), nil, nil)
	return err
}
