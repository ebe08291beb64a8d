package migrations

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// downSection finds a goose down annotation, however it is spaced or cased.
var downSection = regexp.MustCompile(`(?im)^\s*--\s*\+goose\s+down\b`)

// forwardOnly returns the problems that make a migration other than forward-only: a down
// section, or no up section.
func forwardOnly(name, sql string) []string {
	var out []string
	if downSection.MatchString(sql) {
		out = append(out, name+": has a '-- +goose Down' section; migrations are forward-only (write a new migration to undo)")
	}
	if !strings.Contains(sql, "-- +goose Up") {
		out = append(out, name+": has no '-- +goose Up' section")
	}
	return out
}

func TestForwardOnlyRefusesADownSection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		ok        bool
	}{
		{"up only", "-- +goose Up\nCREATE TABLE t (id int);\n", true},
		{"a down section", "-- +goose Up\nCREATE TABLE t (id int);\n\n-- +goose Down\nDROP TABLE t;\n", false},
		{"a down section spelled loosely", "-- +goose Up\nSELECT 1;\n  --  +goose down\nSELECT 2;\n", false},
		{"the word down in a comment", "-- Counts down the days.\n-- +goose Up\nSELECT 1;\n", true},
		{"no up section", "CREATE TABLE t (id int);\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := forwardOnly("x.sql", tc.sql); (len(got) == 0) != tc.ok {
				t.Fatalf("problems %v, want ok=%v", got, tc.ok)
			}
		})
	}
}

func TestMigrationsAreForwardOnly(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations embedded: %v", err)
	}
	for _, name := range names {
		b, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range forwardOnly(name, string(b)) {
			t.Error(p)
		}
	}
}
