//go:build noui

package ui

import "io/fs"

// embedded: binaries built with -tags noui carry no UI.
func embedded() fs.FS { return nil }
