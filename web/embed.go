// Package web is the web client's production build (web/dist, written by `npm run build`),
// embedded in the binary for the server to serve at /.
package web

import (
	"embed"
	"io/fs"
)

// dist holds web/dist; in a clone where the client was never built it holds only .gitkeep.
//
//go:embed all:dist
var dist embed.FS

// Dist returns the built web client, rooted at its index.html. The file system has no
// index.html when the bundle was not built before the binary.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // unreachable: "dist" is a valid path and embedded by the directive above
	}
	return sub
}
