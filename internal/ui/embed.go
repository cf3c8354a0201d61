//go:build !noui

package ui

import (
	"embed"
	"io/fs"
)

// bundle is the built web UI (make ui writes it into dist/). "all:" keeps
// files whose names start with "_" or ".", which Vite may emit.
//
//go:embed all:dist
var bundle embed.FS

// embedded returns the bundle's root, or nil when this binary has none.
func embedded() fs.FS {
	sub, err := fs.Sub(bundle, "dist")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}
