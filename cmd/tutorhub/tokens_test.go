package main_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The API needs only the public half of Kratos's key set; handed the private set (the old
// default path), it refuses to start rather than hold the signing key.
func TestServeRefusesAPrivateKeySet(t *testing.T) {
	t.Parallel()
	r := runBinary(t, baseEnv(testenv.DatabaseURL(t),
		"TUTORHUB_AUTH_JWKS_PATH="+filepath.Join("..", "..", ".data", "kratos", "jwks.json")), "serve")
	if r.code == 0 || !strings.Contains(r.stderr, "private key material") {
		t.Fatalf("serve with the private key set: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// In production the server will not start on development settings, and names every one.
func TestServeRefusesDevelopmentSettingsInProduction(t *testing.T) {
	t.Parallel()
	r := runBinary(t, baseEnv(testenv.DatabaseURL(t),
		"TUTORHUB_ENV=production",
		"TUTORHUB_AUTH_CAPTCHA_PROVIDER=test",
		"TUTORHUB_CORS_ALLOWED_ORIGINS=*",
		"TUTORHUB_AUTH_COOKIE_SECURE=false",
	), "serve")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
	}
	for _, key := range []string{"TUTORHUB_CURSOR_SECRET", "TUTORHUB_AUTH_CAPTCHA_PROVIDER", "TUTORHUB_CORS_ALLOWED_ORIGINS", "TUTORHUB_AUTH_COOKIE_SECURE"} {
		if !strings.Contains(r.stderr, key) {
			t.Errorf("stderr does not name %s:\n%s", key, r.stderr)
		}
	}
}
