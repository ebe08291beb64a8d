package tutorhub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

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
		"storage":     {"7070"},
		"clamav":      {"3310"},
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
	for _, dep := range []string{"temporal", "api", "storage", "clamav"} {
		if c, ok := worker.DependsOn[dep]; !ok || c.Condition != "service_healthy" {
			t.Errorf("worker does not wait for a healthy %s", dep)
		}
	}
	temporal := project.Services["temporal"]
	for _, want := range []string{"--namespace tutorhub", "--search-attribute TutorId=Keyword", "--search-attribute EventType=Keyword", "--search-attribute UploadId=Keyword", "--search-attribute UploadPurpose=Keyword", "--db-filename"} {
		if !strings.Contains(strings.Join(temporal.Command, " "), want) {
			t.Errorf("temporal's command %q lacks %q", temporal.Command, want)
		}
	}

	cfg := serviceConfig(t, "api", api)
	serviceConfig(t, "worker", worker)
	checkTokensAgree(t, project.Services["kratos"], cfg)
}

// serviceConfig loads a tutorhub service's environment as its configuration, which must be
// valid and production's. Files named by KEY_FILE come from a volume at run time; a
// stand-in with a valid value replaces each.
func serviceConfig(t *testing.T, name string, svc types.ServiceConfig) *config.Config {
	t.Helper()
	known := config.Keys()
	var environ []string
	for k, v := range svc.Environment {
		base := strings.TrimSuffix(k, "_FILE")
		if !slices.Contains(known, k) && !slices.Contains(known, base) {
			t.Errorf("%s sets %s, which the configuration does not know", name, k)
		}
		if v == nil {
			continue
		}
		value := *v
		if base != k {
			value = filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(value, []byte(strings.Repeat("0123456789abcdef", 4)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		environ = append(environ, fmt.Sprintf("%s=%s", k, value))
	}
	cfg, err := config.Load(environ)
	if err != nil {
		t.Fatalf("the %s service's environment is not a valid configuration:\n%v", name, err)
	}
	if cfg.Env != config.EnvProduction {
		t.Errorf("%s runs with TUTORHUB_ENV=%s, want production", name, cfg.Env)
	}
	return cfg
}

// checkTokensAgree checks that the access tokens compose's Kratos mints are ones its API
// accepts: iss is Kratos's public base_url (whatever name the API reaches Kratos by), aud
// is what the claims template sets, their lifetime is within the API's bound, and the API
// reads the public half of the key set Kratos signs with.
func checkTokensAgree(t *testing.T, kratos types.ServiceConfig, cfg *config.Config) {
	t.Helper()
	var kc struct {
		Serve struct {
			Public struct {
				BaseURL string `yaml:"base_url"`
			} `yaml:"public"`
		} `yaml:"serve"`
		Session struct {
			Whoami struct {
				Tokenizer struct {
					Templates map[string]struct {
						TTL             string `yaml:"ttl"`
						JWKSURL         string `yaml:"jwks_url"`
						ClaimsMapperURL string `yaml:"claims_mapper_url"`
					} `yaml:"templates"`
				} `yaml:"tokenizer"`
			} `yaml:"whoami"`
		} `yaml:"session"`
	}
	raw, err := os.ReadFile("deploy/kratos/kratos.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		t.Fatalf("deploy/kratos/kratos.yml: %v", err)
	}
	// Kratos lets its environment override the file.
	baseURL := kc.Serve.Public.BaseURL
	if v := kratos.Environment["SERVE_PUBLIC_BASE_URL"]; v != nil {
		baseURL = *v
	}
	if strings.TrimSuffix(baseURL, "/") != strings.TrimSuffix(cfg.Auth.TokenIssuer, "/") {
		t.Errorf("api expects issuer %q, Kratos signs with its public base_url %q", cfg.Auth.TokenIssuer, baseURL)
	}
	tpl, ok := kc.Session.Whoami.Tokenizer.Templates[cfg.Auth.TokenizeTemplate]
	if !ok {
		t.Fatalf("kratos.yml has no tokenizer template %q", cfg.Auth.TokenizeTemplate)
	}
	if ttl, err := time.ParseDuration(tpl.TTL); err != nil || ttl > cfg.Auth.TokenLifetime {
		t.Errorf("template ttl %q exceeds the api's TUTORHUB_AUTH_TOKEN_LIFETIME %s", tpl.TTL, cfg.Auth.TokenLifetime)
	}
	// The mapper is mounted from deploy/kratos at /etc/config/kratos.
	mapper, ok := strings.CutPrefix(tpl.ClaimsMapperURL, "file:///etc/config/kratos/")
	if !ok {
		t.Fatalf("claims mapper %q is not under deploy/kratos", tpl.ClaimsMapperURL)
	}
	jsonnet, err := os.ReadFile(filepath.Join("deploy/kratos", mapper))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*aud:\s*'([^']*)'`).FindSubmatch(jsonnet)
	if m == nil {
		t.Fatalf("%s sets no aud", mapper)
	}
	if string(m[1]) != cfg.Auth.TokenAudience {
		t.Errorf("api expects audience %q, the template sets %q", cfg.Auth.TokenAudience, m[1])
	}
	private := strings.TrimPrefix(tpl.JWKSURL, "file://")
	if want := strings.TrimSuffix(private, ".json") + ".public.json"; cfg.Auth.AccessTokenJWKSURL != want {
		t.Errorf("api reads keys from %s, want %s (the public half of Kratos's %s)", cfg.Auth.AccessTokenJWKSURL, want, private)
	}
}

// The image defaults to production rules, so a deployment that forgets TUTORHUB_ENV is not
// a development server.
func TestDockerfileDefaultsToProduction(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(raw), "\nFROM ")
	if !regexp.MustCompile(`(?m)^ENV TUTORHUB_ENV=production$`).MatchString(stages[len(stages)-1]) {
		t.Error("the final stage of the Dockerfile does not set ENV TUTORHUB_ENV=production")
	}
}
