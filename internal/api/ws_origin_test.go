package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/internal/settings"
)

// Websocket upgrades follow the CORS origin list: "*" (Prefect's default)
// lets every origin in, as Prefect does; a list admits only its origins and
// same-host pages. No Origin at all (SDK clients) always passes.
func TestWebsocketOriginFollowsCORS(t *testing.T) {
	t.Parallel()
	upgrade := func(ts *testServer, origin string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		url := "ws" + strings.TrimPrefix(ts.srv.URL, "http") + "/api/events/in"
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{PrefectSubprotocol}, HTTPHeader: h})
		if err != nil {
			require.NotNil(t, resp, "dial failed before any response: %v", err)
			return resp.StatusCode
		}
		c.CloseNow()
		return resp.StatusCode
	}

	open := newTestServer(t, nil)
	require.Equal(t, http.StatusSwitchingProtocols, upgrade(open, ""))
	require.Equal(t, http.StatusSwitchingProtocols, upgrade(open, "https://anywhere.example"))

	restricted := newTestServer(t, func(c *settings.Server) { c.CORSAllowedOrigins = []string{"https://ui.example.test"} })
	require.Equal(t, http.StatusSwitchingProtocols, upgrade(restricted, ""))
	require.Equal(t, http.StatusSwitchingProtocols, upgrade(restricted, "https://ui.example.test"))
	require.Equal(t, http.StatusForbidden, upgrade(restricted, "https://evil.example"))
}

func TestOriginPatterns(t *testing.T) {
	require.Equal(t, []string{"*"}, originPatterns(nil))
	require.Equal(t, []string{"*"}, originPatterns([]string{"https://a", "*"}))
	require.Equal(t, []string{"ui.example.com:8443", "b.test"}, originPatterns([]string{"https://ui.example.com:8443", "http://b.test", "not a url"}))
}
