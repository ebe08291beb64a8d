package tutorhub_test

import (
	"context"
	"fmt"
	"slices"
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
	// The API's environment must be exactly what its configuration accepts.
	known := config.Keys()
	var environ []string
	for k, v := range api.Environment {
		if !slices.Contains(known, k) {
			t.Errorf("api sets %s, which the configuration does not know", k)
		}
		if v != nil {
			environ = append(environ, fmt.Sprintf("%s=%s", k, *v))
		}
	}
	if _, err := config.Load(environ); err != nil {
		t.Errorf("the api service's environment is not a valid configuration:\n%v", err)
	}
}
