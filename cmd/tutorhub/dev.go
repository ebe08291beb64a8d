package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/seed"
)

const devUsage = "usage: tutorhub dev seed [--tutors N] [--seed S]\n"

// dev holds development commands; they refuse to run against a production configuration.
func dev(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "seed" {
		fmt.Fprint(stderr, devUsage)
		return exitCode(2)
	}
	fs := flag.NewFlagSet("dev seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tutors := fs.Int64("tutors", 1000, "number of tutors to create")
	seedValue := fs.Int64("seed", 1, "varies the generated data; the same seed gives the same tutors")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *tutors < 1 {
		fmt.Fprint(stderr, devUsage)
		return exitCode(2)
	}
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	if cfg.Env == config.EnvProduction {
		fmt.Fprintln(stderr, "tutorhub: dev seed refuses to run with TUTORHUB_ENV=production")
		return exitCode(2)
	}
	pool, err := database.Open(ctx, cfg.Database.URL, database.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	bar := newProgressBar(stderr, isTerminal(stderr), "seeding tutors")
	start := time.Now()
	n, err := seed.Tutors(ctx, pool, seed.Options{Tutors: *tutors, Seed: *seedValue, BatchSize: 2000, Progress: bar.update})
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %d tutors in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// progressBar reports progress on a terminal as one line redrawn in place, and elsewhere
// (logs, CI) as a line at every tenth of the way.
type progressBar struct {
	w        io.Writer
	tty      bool
	label    string
	lastTick int64
	drawn    bool
}

func newProgressBar(w io.Writer, tty bool, label string) *progressBar {
	return &progressBar{w: w, tty: tty, label: label, lastTick: -1}
}

func (b *progressBar) update(done, total int64) {
	if total <= 0 {
		return
	}
	pct := done * 100 / total
	if !b.tty {
		if tick := pct / 10; tick != b.lastTick {
			b.lastTick = tick
			fmt.Fprintf(b.w, "%s: %d/%d (%d%%)\n", b.label, done, total, pct)
		}
		return
	}
	const width = 30
	filled := int(done * width / total)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3d%% %d/%d", b.label, strings.Repeat("#", filled), strings.Repeat(" ", width-filled), pct, done, total)
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
