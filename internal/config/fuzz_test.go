package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub/internal/config"
)

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"120/1m", "10/1s:20", "5/m", "1/24h", "3/1m30s", "2/1.5s", "0/1m", "1/1m:", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := config.ParseRate(s)
		if err != nil {
			return
		}
		if r.Limit < 1 || r.Burst < 1 || r.Period < 1e9 {
			t.Fatalf("ParseRate(%q) = %+v, outside its documented bounds", s, r)
		}
		again, err := config.ParseRate(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRate(%q).String() = %q, which parses to %+v, %v", s, r.String(), again, err)
		}
		if again.String() != r.String() {
			t.Fatalf("String is not canonical: %q then %q", r.String(), again.String())
		}
	})
}

// FuzzLoad feeds arbitrary values to a few keys, secrets and a YAML file,
// and checks that Load never panics and never reveals a secret, whether it
// succeeds (through Print) or fails (through the error).
func FuzzLoad(f *testing.F) {
	f.Add(":8080", "10/1s:20", "https://a.example.com", "postgres://u:pw@db/x", "cursor-0123456789abcdef0123456789abcdef", "turnstile-key", "log_level: debug\n", "")
	f.Add("bad", "0/1m", "*", "postgres://u:pw@db:bad/x", "short", "", "http_addr: [\n", "production")
	f.Add("127.0.0.1:1", "1/h", "https://x.example.com,http://y:1", "redis://nope", "x", "k", "cors_allowed_origins: [a, b]\nhttp_addr: {a: b}\n", "test")
	f.Add("[::1]:0", "1/s", "", "", "0123456789abcdef0123456789abcdef", "", "database_url: \"postgres://u:pw@h:x/y\n", "development")
	f.Add(":1", "", "", "host=db user=app password=pw", "", "", "a: &x [1]\nb: *x\nrate_limit_auth: *x\n", "")
	// Each fuzzing process runs one input at a time, so its files can be reused.
	dir := f.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	cursorPath := filepath.Join(dir, "cursor")
	f.Fuzz(func(t *testing.T, addr, rate, origins, dbURL, cursor, captcha, yamlBody, env string) {
		for _, v := range []string{addr, rate, origins, dbURL, cursor, captcha, env} {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
		}
		// Secrets carry markers so that finding one in the output is
		// never a coincidence with ordinary text. The Redis URL comes from
		// the file, after the fuzzed YAML, with a password restricted to
		// characters that need no quoting so the file holds it exactly.
		secrets := []string{"SECRETDB" + dbURL, "SECRETCURSOR" + cursor, "SECRETCAPTCHA" + captcha, "SECRETREDIS" + plain(dbURL)}
		if err := os.WriteFile(cfgPath, []byte(yamlBody+"\nredis_url: 'redis://:"+secrets[3]+"@cache:6379/0'\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		environ := []string{
			"TUTORHUB_CONFIG_FILE=" + cfgPath,
			"TUTORHUB_HTTP_ADDR=" + addr,
			"TUTORHUB_RATE_LIMIT_AUTH=" + rate,
			"TUTORHUB_CORS_ALLOWED_ORIGINS=" + origins,
			"TUTORHUB_DATABASE_URL=" + secrets[0],
			"TUTORHUB_CURSOR_SECRET_FILE=" + cursorPath,
			"TUTORHUB_AUTH_CAPTCHA_PROVIDER=hcaptcha",
			"TUTORHUB_AUTH_CAPTCHA_SECRET=" + secrets[2],
			"TUTORHUB_ENV=" + env,
		}
		if err := os.WriteFile(cursorPath, []byte(secrets[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		public := strings.Join([]string{addr, rate, origins, yamlBody, env, dir}, "\n")

		c, err := config.Load(environ)
		var out string
		if err != nil {
			out = err.Error()
		} else {
			var b strings.Builder
			c.Print(&b)
			out = b.String() + strings.Join(c.Warnings(), "\n")
		}
		for _, s := range secrets {
			if strings.Contains(public, s) {
				continue // the secret was also given as a public value
			}
			if strings.Contains(out, s) {
				t.Fatalf("output reveals secret %q:\n%s", s, out)
			}
		}
	})
}

// plain keeps the characters of s that a single-quoted YAML scalar and a
// URL hold literally.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":/@._-", r) {
			return r
		}
		return -1
	}, s)
}
