package storage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseLogTextQuery(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want LogTextQuery
	}{
		{"", LogTextQuery{}},
		{"  \t ", LogTextQuery{}},
		{"error", LogTextQuery{Include: []string{"error"}}},
		{"error warning", LogTextQuery{Include: []string{"error", "warning"}}},
		{"error -debug !trace", LogTextQuery{Include: []string{"error"}, Exclude: []string{"debug", "trace"}}},
		{"+required -excluded", LogTextQuery{Required: []string{"required"}, Exclude: []string{"excluded"}}},
		{`"connection timeout"`, LogTextQuery{Include: []string{"connection timeout"}}},
		{`-"not this" +"must have"`, LogTextQuery{Exclude: []string{"not this"}, Required: []string{"must have"}}},
		{`"say \"hi\" \\ \n"`, LogTextQuery{Include: []string{`say "hi" \ \n`}}},
		{`"unclosed phrase`, LogTextQuery{Include: []string{"unclosed phrase"}}},
		{`""  "  "`, LogTextQuery{}},
		{"- spaced + out !", LogTextQuery{Include: []string{"spaced", "out"}}},
		{"--double", LogTextQuery{Exclude: []string{"-double"}}},
		{`a"b"c`, LogTextQuery{Include: []string{"a", "b", "c"}}},
		{"ünï -cödé", LogTextQuery{Include: []string{"ünï"}, Exclude: []string{"cödé"}}},
	} {
		t.Run(tc.q, func(t *testing.T) { require.Equal(t, tc.want, ParseLogTextQuery(tc.q)) })
	}
}
