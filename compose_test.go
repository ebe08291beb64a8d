package tutorhub_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/tutorhub/tutorhub/internal/config"
)

// No Docker engine runs where the tests run, so docker-compose.yml is checked by parsing it
// with the Compose specification's own loader.
func TestComposeDescribesTheStack(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"}, cli.WithWorkingDirectory("."), cli.WithoutEnvironmentResolution)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	wantPorts := map[string][]string{
		"postgres":    {"5432"},
		"redis":       {"6379"},
		"meilisearch": {"7700"},
		"kratos":      {"4433", "4434"},
		"mailpit":     {"1025", "8025"},
		"api":         {"8080"},
		"temporal":    {"7233"},
		"temporal-ui": {"8233"},
	}
	for name, ports := range wantPorts {
		svc, ok := project.Services[name]
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		var published []string
		for _, p := range svc.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1 only", name, p.Published, p.HostIP)
			}
			published = append(published, p.Published)
		}
		for _, p := range ports {
			if !slices.Contains(published, p) {
				t.Errorf("%s does not publish port %s (has %v)", name, p, published)
			}
		}
	}
	for name, svc := range project.Services {
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
		if svc.Image == "" && svc.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
	}

	api := project.Services["api"]
	for _, dep := range []string{"postgres", "redis", "kratos"} {
		if c, ok := api.DependsOn[dep]; !ok || c.Condition != "service_healthy" {
			t.Errorf("api does not wait for a healthy %s", dep)
		}
	}
	worker, ok := project.Services["worker"]
	if !ok {
		t.Fatal("service worker is missing")
	}
	if worker.Build == nil || len(worker.Command) == 0 || worker.Command[0] != "worker" {
		t.Errorf("worker does not run `tutorhub worker` from the Dockerfile: build %v, command %q", worker.Build, worker.Command)
	}
	for _, dep := range []string{"temporal", "api"} {
		if c, ok := worker.DependsOn[dep]; !ok || c.Condition != "service_healthy" {
			t.Errorf("worker does not wait for a healthy %s", dep)
		}
	}
	temporal := project.Services["temporal"]
	for _, want := range []string{"--namespace tutorhub", "--search-attribute TutorId=Keyword", "--search-attribute EventType=Keyword", "--db-filename"} {
		if !strings.Contains(strings.Join(temporal.Command, " "), want) {
			t.Errorf("temporal's command %q lacks %q", temporal.Command, want)
		}
	}

	// The tutorhub services' environments must be exactly what the configuration accepts.
	known := config.Keys()
	for _, name := range []string{"api", "worker"} {
		var environ []string
		for k, v := range project.Services[name].Environment {
			if !slices.Contains(known, k) {
				t.Errorf("%s sets %s, which the configuration does not know", name, k)
			}
			if v != nil {
				environ = append(environ, fmt.Sprintf("%s=%s", k, *v))
			}
		}
		if _, err := config.Load(environ); err != nil {
			t.Errorf("the %s service's environment is not a valid configuration:\n%v", name, err)
		}
	}
}
