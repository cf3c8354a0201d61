package client

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
)

func TestFlowMethods(t *testing.T) {
	ctx := context.Background()
	fs := newFakeServer(t, csrfOn, "admin:pw")
	cfg := fs.config(t)
	cfg.AuthString = "admin:pw"
	c, err := New(cfg)
	require.NoError(t, err)
	defer c.Close()

	etl, err := c.CreateFlow(ctx, apitype.FlowCreate{Name: "nightly etl", Tags: []string{"prod"}})
	require.NoError(t, err)
	require.Equal(t, "nightly etl", etl.Name)
	again, err := c.CreateFlow(ctx, apitype.FlowCreate{Name: "nightly etl"})
	require.NoError(t, err)
	require.Equal(t, etl.ID, again.ID)
	_, err = c.CreateFlow(ctx, apitype.FlowCreate{Name: "report"})
	require.NoError(t, err)

	got, err := c.ReadFlow(ctx, etl.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"prod"}, got.Tags)
	byName, err := c.ReadFlowByName(ctx, "nightly etl")
	require.NoError(t, err)
	require.Equal(t, etl.ID, byName.ID)
	require.Equal(t, "/api/flows/name/nightly etl", fs.lastRequest(t).Path)

	like := "ETL"
	filtered, err := c.ReadFlows(ctx, apitype.FlowFilterBody{Flows: &apitype.FlowFilter{Name: &apitype.FilterName{Like: &like}}})
	require.NoError(t, err)
	require.Len(t, filtered, 1)
	require.JSONEq(t, `{"flows":{"name":{"like_":"ETL"}}}`, string(fs.lastRequest(t).Body))
	n, err := c.CountFlows(ctx, apitype.FlowFilterBody{Sort: apitype.FlowSortNameAsc})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.JSONEq(t, `{}`, string(fs.lastRequest(t).Body), "count sends no sort/limit/offset")

	tags := []string{"prod", "nightly"}
	require.NoError(t, c.UpdateFlow(ctx, etl.ID, apitype.FlowUpdate{Tags: &tags}))
	got, err = c.ReadFlow(ctx, etl.ID)
	require.NoError(t, err)
	require.Equal(t, tags, got.Tags)

	require.NoError(t, c.DeleteFlow(ctx, etl.ID))
	_, err = c.ReadFlow(ctx, etl.ID)
	require.True(t, IsNotFound(err), "got %v", err)
	require.True(t, IsNotFound(c.DeleteFlow(ctx, uuid.New())))
	require.Equal(t, 1, fs.tokenFetches())
}

func TestVariableMethods(t *testing.T) {
	ctx := context.Background()
	fs := newFakeServer(t, csrfOff, "")
	c, err := New(fs.config(t))
	require.NoError(t, err)

	v, err := c.CreateVariable(ctx, apitype.VariableCreate{Name: "region", Value: json.RawMessage(`"eu-west-1"`)})
	require.NoError(t, err)
	require.JSONEq(t, `"eu-west-1"`, string(v.Value))
	_, err = c.CreateVariable(ctx, apitype.VariableCreate{Name: "region", Value: json.RawMessage(`1`)})
	require.True(t, IsConflict(err), "got %v", err)
	require.ErrorContains(t, err, "409 Conflict: A variable with the name region already exists.")

	val := json.RawMessage(`{"a":[1,2]}`)
	require.NoError(t, c.UpdateVariableByName(ctx, "region", apitype.VariableUpdate{Value: &val}))
	got, err := c.ReadVariableByName(ctx, "region")
	require.NoError(t, err)
	require.JSONEq(t, `{"a":[1,2]}`, string(got.Value))

	require.NoError(t, c.DeleteVariableByName(ctx, "region"))
	_, err = c.ReadVariableByName(ctx, "region")
	require.True(t, IsNotFound(err))
}

func TestServerInfoMethods(t *testing.T) {
	ctx := context.Background()
	fs := newFakeServer(t, csrfOff, "")
	c, err := New(fs.config(t))
	require.NoError(t, err)

	require.NoError(t, c.Health(ctx))
	require.NoError(t, c.Ready(ctx))
	v, err := c.APIVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, "0.8.4", v)
	v, err = c.ServerVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, "3.9.1", v)
	s, err := c.AdminSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"analytics_enabled": false}, s["server"])
}
