package main

import (
	"fmt"
	"io"

	"github.com/tutorhub/tutorhub/internal/config"
)

// loadConfig loads and validates the configuration; on failure it prints every problem and
// returns exit status 2.
func loadConfig(environ []string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "tutorhub: invalid configuration:\n%v\n", err)
		return nil, exitCode(2)
	}
	return cfg, nil
}

func configCmd(args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "docs" {
		// The reference table of every key, as README.md embeds it.
		fmt.Fprint(stdout, config.MarkdownTable())
		return nil
	}
	if len(args) != 1 || args[0] != "print" {
		fmt.Fprint(stderr, "usage: tutorhub config print|docs\n")
		return exitCode(2)
	}
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	cfg.Print(stdout)
	return nil
}
