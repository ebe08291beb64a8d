package main_test

import (
	"os"
	"strings"
	"testing"
)

// The README's configuration table is generated from the configuration itself (`./just gen`);
// this fails when a key is added or changed without regenerating it.
func TestREADMEListsEveryConfigKey(t *testing.T) {
	t.Parallel()
	r := runBinary(t, []string{"PATH=" + os.Getenv("PATH")}, "config", "docs")
	if r.code != 0 || !strings.Contains(r.stdout, "TUTORHUB_DATABASE_URL") {
		t.Fatalf("config docs: %d %s", r.code, r.stderr)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "<!-- config:begin -->\n"+r.stdout+"<!-- config:end -->") {
		t.Fatal("README.md's configuration table is stale: run ./just gen")
	}
}
