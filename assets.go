package tutorhub

import (
	"embed"
	"io/fs"
)

// OpenAPI is the OpenAPI 3.1 document generated from proto/ (gen/openapi), served at
// /api/v1/openapi.json and rendered at /docs.
//
//go:embed gen/openapi/tutorhub.openapi.json
var OpenAPI []byte

// webDist is the web client's production build (web/dist, written by `npm run build`). In a
// clone where it was never built it holds only .gitkeep.
//
//go:embed all:web/dist
var webDist embed.FS

// Pages returns the built web client, rooted at its index.html. The file system has no
// index.html when the bundle was not built before the binary.
func Pages() fs.FS {
	sub, err := fs.Sub(webDist, "web/dist")
	if err != nil {
		panic(err) // unreachable: "web/dist" is a valid path and embedded by the directive above
	}
	return sub
}
