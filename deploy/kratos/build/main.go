// Command kratos builds Ory Kratos from its Go module at the version pinned in go.mod.
// Kratos's own module carries replace directives, which `go install pkg@version` refuses;
// this wrapper module copies them so the pinned release builds with the plain Go toolchain.
package main

import (
	"os"

	"github.com/ory/kratos/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
