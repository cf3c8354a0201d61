package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/client"
	"github.com/warden-orchestration/warden/internal/settings"
	"github.com/warden-orchestration/warden/internal/testserver"
)

// TestAgainstWarden drives the real Warden application (auth + CSRF on) with
// the client: the protocol tests elsewhere use a faithful fake; this one
// proves the two halves agree.
func TestAgainstWarden(t *testing.T) {
	srv := testserver.Start(t, func(c *settings.Server) {
		c.AuthString = "admin:e2e-pass"
		c.CSRFEnabled = true
		c.CORSAllowedOrigins = []string{"https://ui.example.test"}
	})
	ctx := context.Background()

	var logs bytes.Buffer
	cfg := client.DefaultConfig(srv.APIURL)
	cfg.AuthString = "admin:e2e-pass"
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c, err := client.New(cfg)
	require.NoError(t, err)
	defer c.Close()

	v, err := c.ServerVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, "3.9.1", v)

	flow, err := c.CreateFlow(ctx, apitype.FlowCreate{Name: "e2e-flow", Tags: []string{"a"}})
	require.NoError(t, err)
	again, err := c.ReadFlowByName(ctx, "e2e-flow")
	require.NoError(t, err)
	require.Equal(t, flow.ID, again.ID)

	_, err = c.CreateVariable(ctx, apitype.VariableCreate{Name: "answer", Value: json.RawMessage(`42`)})
	require.NoError(t, err)
	_, err = c.CreateVariable(ctx, apitype.VariableCreate{Name: "answer", Value: json.RawMessage(`1`)})
	require.True(t, client.IsConflict(err), "duplicate variable: %v", err)
	got, err := c.ReadVariableByName(ctx, "answer")
	require.NoError(t, err)
	require.JSONEq(t, `42`, string(got.Value))
	require.NoError(t, c.DeleteVariableByName(ctx, "answer"))
	_, err = c.ReadVariableByName(ctx, "answer")
	require.True(t, client.IsNotFound(err), "deleted variable: %v", err)
	require.NotContains(t, logs.String(), "e2e-pass")

	// Wrong credentials: 401 on reads and on the CSRF token fetch before writes.
	bad := client.DefaultConfig(srv.APIURL)
	bad.AuthString = "admin:wrong"
	bad.MaxRetries = 0
	bc, err := client.New(bad)
	require.NoError(t, err)
	defer bc.Close()
	_, err = bc.ReadFlowByName(ctx, "e2e-flow")
	require.True(t, client.IsUnauthorized(err), "wrong credentials: %v", err)
	_, err = bc.CreateFlow(ctx, apitype.FlowCreate{Name: "nope"})
	require.True(t, client.IsUnauthorized(err), "wrong credentials on write: %v", err)
	require.NotContains(t, err.Error(), "wrong")

	// CSRF switched off on the server: the client notices the 422 and carries on.
	plain := testserver.Start(t, nil)
	pc, err := client.New(client.DefaultConfig(plain.APIURL))
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.CreateFlow(ctx, apitype.FlowCreate{Name: "no-csrf"})
	require.NoError(t, err)
}
