// Package migrations holds tutorhub's forward-only, numbered SQL migrations, embedded in the
// binary. They are applied by goose (see internal/database).
package migrations

import "embed"

// FS contains every migration file, in the goose SQL format.
//
//go:embed *.sql
var FS embed.FS
