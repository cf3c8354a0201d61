package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// CreateFlow calls POST /flows/. Prefect's create is idempotent by name: an
// existing flow with that name is returned unchanged.
func (c *Client) CreateFlow(ctx context.Context, in apitype.FlowCreate) (*apitype.Flow, error) {
	var f apitype.Flow
	if _, err := c.Do(ctx, http.MethodPost, "/flows/", in, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// ReadFlow calls GET /flows/{id}.
func (c *Client) ReadFlow(ctx context.Context, id uuid.UUID) (*apitype.Flow, error) {
	var f apitype.Flow
	if _, err := c.Do(ctx, http.MethodGet, "/flows/"+id.String(), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// ReadFlowByName calls GET /flows/name/{name}.
func (c *Client) ReadFlowByName(ctx context.Context, name string) (*apitype.Flow, error) {
	var f apitype.Flow
	if _, err := c.Do(ctx, http.MethodGet, "/flows/name/"+url.PathEscape(name), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// ReadFlows calls POST /flows/filter.
func (c *Client) ReadFlows(ctx context.Context, filter apitype.FlowFilterBody) ([]apitype.Flow, error) {
	var flows []apitype.Flow
	if _, err := c.Do(ctx, http.MethodPost, "/flows/filter", filter, &flows); err != nil {
		return nil, err
	}
	return flows, nil
}

// CountFlows calls POST /flows/count; Sort, Limit and Offset are not sent.
func (c *Client) CountFlows(ctx context.Context, filter apitype.FlowFilterBody) (int, error) {
	var n int
	body := apitype.FlowFilterBody{Flows: filter.Flows}
	if _, err := c.Do(ctx, http.MethodPost, "/flows/count", body, &n); err != nil {
		return 0, err
	}
	return n, nil
}

// UpdateFlow calls PATCH /flows/{id}.
func (c *Client) UpdateFlow(ctx context.Context, id uuid.UUID, in apitype.FlowUpdate) error {
	_, err := c.Do(ctx, http.MethodPatch, "/flows/"+id.String(), in, nil)
	return err
}

// DeleteFlow calls DELETE /flows/{id}.
func (c *Client) DeleteFlow(ctx context.Context, id uuid.UUID) error {
	_, err := c.Do(ctx, http.MethodDelete, "/flows/"+id.String(), nil, nil)
	return err
}
