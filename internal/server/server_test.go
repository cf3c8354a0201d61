package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExposed(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1": false,
		"127.0.0.2": false,
		"::1":       false,
		"localhost": false,
		"0.0.0.0":   true,
		"::":        true,
		"10.1.2.3":  true,
		"192.0.2.7": true,
	}
	for host, want := range cases {
		require.Equal(t, want, Exposed(host), host)
	}
}

func TestNewLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(&buf, "WARNING", "text")
	l.Info("hidden")
	l.Warn("shown")
	require.NotContains(t, buf.String(), "hidden")
	require.Contains(t, buf.String(), "shown")

	buf.Reset()
	l = NewLogger(&buf, "debug", "json")
	l.Debug("dbg", "k", "v")
	require.True(t, strings.HasPrefix(buf.String(), "{"), buf.String())
	require.Contains(t, buf.String(), `"k":"v"`)
}
