package tutorhub_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The package map (docs/architecture.md), enforced: cmd wires; server and activities call the
// domain packages; the domain calls queries and internal clients; workflows orchestrate and do
// no I/O. Nothing imports upward.

const module = "github.com/tutorhub/tutorhub"

// domainPackages are the bounded contexts, present and planned.
var domainPackages = []string{"accounts", "serviceaccounts", "subjects", "tutors", "search", "uploads", "bookings", "payments", "notifications"}

// networkPackages, with net itself, are what a workflow must never import: it would do I/O
// outside an activity.
var networkPackages = []string{
	"net/http", "database/sql", "github.com/jackc/pgx", "github.com/lib/pq",
	"github.com/redis/go-redis", "github.com/aws/aws-sdk-go-v2", "github.com/meilisearch",
}

// goPackage is what the rules read of `go list -json`.
type goPackage struct {
	ImportPath string
	Imports    []string
	EmbedFiles []string
}

// rel is a path relative to the module ("server", "tutors/x"), or "" outside it.
func rel(path string) string {
	if path == module {
		return "."
	}
	r, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return r
}

// under reports whether the module-relative path is dir or inside it.
func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

func underAny(path string, dirs []string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return under(path, d) })
}

// layeringViolations returns one line per import that breaks the map.
func layeringViolations(pkgs []goPackage) []string {
	var out []string
	bad := func(p goPackage, imp, why string) { out = append(out, p.ImportPath+" imports "+imp+": "+why) }
	for _, p := range pkgs {
		from := rel(p.ImportPath)
		if from == "" {
			continue
		}
		if from == "." && len(p.EmbedFiles) > 0 {
			out = append(out, p.ImportPath+" embeds "+strings.Join(p.EmbedFiles, ", ")+": the root package carries no assets")
		}
		for _, imp := range p.Imports {
			to := rel(imp)
			switch {
			case under(from, "server") && under(to, "queries"):
				bad(p, imp, "server calls the domain packages, which own the SQL")
			case underAny(from, domainPackages) && (under(to, "server") || under(to, "workflows") || under(to, "activities") || under(to, "cmd")):
				bad(p, imp, "the domain never imports server, workflows, activities or cmd")
			case underAny(from, domainPackages) && under(to, "gen"):
				bad(p, imp, "domain types are plain Go, not API messages")
			case under(from, "workflows") && (under(to, "queries") || under(to, "server")):
				bad(p, imp, "workflows orchestrate; queries and server are out of reach")
			case under(from, "workflows") && to == "" && (imp == "net" || underAny(imp, networkPackages)):
				bad(p, imp, "workflows do no I/O; an activity does")
			case under(from, "activities") && under(to, "server"):
				bad(p, imp, "activities call the domain, never the API edge")
			case under(from, "queries") && to != "" && !under(to, "queries"):
				bad(p, imp, "queries is the bottom layer")
			case !under(from, "cmd") && under(to, "cmd"):
				bad(p, imp, "nothing imports a command")
			}
		}
	}
	return out
}

func TestLayeringRulesCatchWrongImports(t *testing.T) {
	t.Parallel()
	m := func(p string) string { return module + "/" + p }
	for _, tc := range []struct {
		name    string
		pkg     goPackage
		wantBad bool
	}{
		{"server calls the domain", goPackage{ImportPath: m("server"), Imports: []string{m("tutors"), m("accounts"), "net/http"}}, false},
		{"server reaches past the domain into queries", goPackage{ImportPath: m("server"), Imports: []string{m("queries")}}, true},
		{"the domain imports the API edge", goPackage{ImportPath: m("tutors"), Imports: []string{m("server")}}, true},
		{"the domain imports a workflow", goPackage{ImportPath: m("accounts"), Imports: []string{m("workflows")}}, true},
		{"the domain imports API messages", goPackage{ImportPath: m("tutors"), Imports: []string{m("gen/tutorhub/v1")}}, true},
		{"the domain calls queries", goPackage{ImportPath: m("tutors"), Imports: []string{m("queries"), "github.com/jackc/pgx/v5"}}, false},
		{"a workflow imports queries", goPackage{ImportPath: m("workflows"), Imports: []string{m("queries")}}, true},
		{"a workflow opens a connection", goPackage{ImportPath: m("workflows"), Imports: []string{"net/http"}}, true},
		{"a workflow talks to PostgreSQL", goPackage{ImportPath: m("workflows"), Imports: []string{"github.com/jackc/pgx/v5/pgxpool"}}, true},
		{"a workflow uses the SDK and a domain's event types", goPackage{ImportPath: m("workflows"), Imports: []string{"go.temporal.io/sdk/workflow", m("tutors")}}, false},
		{"an activity imports the API edge", goPackage{ImportPath: m("activities"), Imports: []string{m("server")}}, true},
		{"an activity calls the domain", goPackage{ImportPath: m("activities"), Imports: []string{m("tutors"), "net/http"}}, false},
		{"the root package embeds assets", goPackage{ImportPath: module, EmbedFiles: []string{"web/dist/index.html"}}, true},
		{"queries imports the domain", goPackage{ImportPath: m("queries"), Imports: []string{m("tutors")}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := layeringViolations([]goPackage{tc.pkg})
			if (len(got) > 0) != tc.wantBad {
				t.Fatalf("violations %v, want any: %v", got, tc.wantBad)
			}
		})
	}
}

func TestPackagesFollowTheLayering(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,EmbedFiles", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if !slices.ContainsFunc(pkgs, func(p goPackage) bool { return p.ImportPath == module+"/server" }) {
		t.Fatalf("go list found no server package among %d", len(pkgs))
	}
	for _, v := range layeringViolations(pkgs) {
		t.Error(v)
	}
}
