// Command tutorhub is the whole platform in one binary:
//
//	tutorhub serve [--migrate]     serve the API (Connect, gRPC, gRPC-Web, REST) on one port
//	tutorhub worker [--queues Q,...]  run Temporal workflows and activities, and the outbox relay
//	tutorhub migrate up|status     apply or list the embedded database migrations
//	tutorhub config print          show the effective configuration, secrets redacted
//	tutorhub dev seed [--tutors N]  create realistic development tutors
//	tutorhub search reindex        rebuild the search index and swap it in, showing progress
//	tutorhub admin grant-role EMAIL ROLE   grant a role (student, tutor, admin), audited
//	tutorhub config docs           print the reference table of every configuration key
//	tutorhub version               print the version
//
// Configuration comes from TUTORHUB_* environment variables (see README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitCode carries a process exit status through an error.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: tutorhub <command> [arguments]

commands:
  serve [--migrate]   serve the API; --migrate applies pending migrations first
  worker [--queues search,...] [--relay=false] [--queue-prefix P]
                      serve Temporal task queues (search; uploads, notifications and
                      payments as they come) and run the outbox relay
  migrate up          apply pending database migrations
  migrate status      list migrations and whether each is applied
  config print        print the effective configuration (secrets redacted)
  dev seed [--tutors N] [--seed S]
                      create N realistic development tutors (progress on stderr)
  search reindex [--page-size N] [--queue-prefix P]
                      rebuild the search index beside the live one (ReindexAll on the
                      worker's search queue) and swap it in; prints progress
  admin grant-role EMAIL ROLE
                      grant a role (student, tutor, admin) to a user; audited
  config docs         print the reference table of every configuration key
  version             print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintln(os.Stderr, "tutorhub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, environ, stdout, stderr)
	case "worker":
		return workerCmd(ctx, rest, environ, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, environ, stdout, stderr)
	case "config":
		return configCmd(rest, environ, stdout, stderr)
	case "dev":
		return dev(ctx, rest, environ, stdout, stderr)
	case "admin":
		return admin(ctx, rest, environ, stdout, stderr)
	case "search":
		return searchCmd(ctx, rest, environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "tutorhub", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "tutorhub: unknown command %q\n\n%s", cmd, usage)
		return exitCode(2)
	}
}
