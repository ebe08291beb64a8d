package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestProgressBar(t *testing.T) {
	t.Parallel()
	var lines bytes.Buffer
	b := newProgressBar(&lines, false, "seeding")
	for i := int64(1); i <= 100; i++ {
		b.update(i, 100)
	}
	b.finish()
	if n := strings.Count(lines.String(), "\n"); n != 11 {
		t.Fatalf("without a terminal: %d lines, want one per tenth:\n%s", n, lines.String())
	}
	var tty bytes.Buffer
	b = newProgressBar(&tty, true, "seeding")
	b.update(50, 100)
	b.update(100, 100)
	b.finish()
	if !strings.HasPrefix(tty.String(), "\r") || strings.Count(tty.String(), "\n") != 1 || !strings.Contains(tty.String(), "100%") {
		t.Fatalf("on a terminal: %q", tty.String())
	}
}

func TestDevSeed(t *testing.T) {
	t.Parallel()
	env := []string{"TUTORHUB_DATABASE_URL=" + testenv.DatabaseURL(t)}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"dev", "seed", "--tutors", "50"}, env, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "created 50 tutors") || !strings.Contains(stderr.String(), "50/50") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if err := run(context.Background(), []string{"dev", "seed", "--tutors", "0"}, env, &stdout, &stderr); err == nil {
		t.Fatal("--tutors 0 accepted")
	}
}
