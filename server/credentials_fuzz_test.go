package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/serviceaccounts"
)

// fuzzAuthenticator verifies tokens against a fresh key nobody signs with, so every token
// the fuzzer makes up must be refused before the revocations or the database are asked
// (both nil here: reaching them would panic, which the fuzzer reports).
func fuzzAuthenticator(f *testing.F) *authenticator {
	f.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "jwks.public.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.Fatal(err)
	}
	v, err := accesstoken.NewVerifier(accesstoken.Options{JWKSPath: path, Issuer: "http://127.0.0.1:4433/", Audience: "tutorhub"})
	if err != nil {
		f.Fatal(err)
	}
	// Service-account keys too: a made-up key fails its checksum before any lookup (a key
	// reaching the nil database would panic).
	keys := serviceaccounts.New(nil, serviceaccounts.Options{})
	return &authenticator{tokens: v, keys: keys, rules: map[string]Rule{
		"/t.v1.S/Public":  {Who: Public, ServiceAccounts: NeedsScope(serviceaccounts.TutorsRead)},
		"/t.v1.S/Private": {Who: Authenticated, ServiceAccounts: NoServiceAccounts},
	}}
}

// FuzzCredentials drives every path that parses a credential from a request (the bearer
// header through token verification, the session_token field, the session and CSRF
// cookies and the CSRF header): none may panic; a bad credential is Unauthenticated (or
// PermissionDenied for a session cookie without its CSRF proof), never a server error or
// Unavailable; public procedures run as anonymous despite it (a service-account key is
// refused there too); and whatever is accepted as
// a session token is safe to forward to Kratos in a header.
func FuzzCredentials(f *testing.F) {
	a := fuzzAuthenticator(f)
	key := DeriveKey([]byte("fuzz-cursor-secret-0123456789abcdef"), "tutorhub csrf key v1")
	const st = "ory_st_4nNAxCd7FuvBeSHhoO3CQRmsIpJTvG4I"
	csrf := csrfTokenOf(key, st)
	for _, seed := range []struct{ authorization, field, cookie, header string }{
		{"Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.sig", "", "", ""},
		{"Bearer \x1b[31mtoken", st + "\x1b", "", ""},
		{"Bearer \x07", "\x07", "tutorhub_session=\x07", "\x07"},
		{"Bearer thk_aaaaaaaaaa_" + strings.Repeat("a", 59), "", "", ""},
		{"bearer tok\b", "tok\b", "tutorhub_session=tok\b; tutorhub_csrf=x", "x"},
		{"Basic dXNlcjpwYXNz", "garbage with spaces", "tutorhub_session=" + st + "; tutorhub_csrf=" + csrf, csrf},
		{"Bearer " + strings.Repeat("A", 9000), strings.Repeat("s", 600), "tutorhub_session=" + strings.Repeat("s", 600), ""},
		{"Bearer", "", "__Host-tutorhub_session=" + st + "; __Host-tutorhub_csrf=" + csrf, csrf},
		{"", "ünïcödé", "tutorhub_session=" + st + "; tutorhub_csrf=planted", "planted"},
	} {
		f.Add(seed.authorization, seed.field, seed.cookie, seed.header)
	}
	f.Fuzz(func(t *testing.T, authorization, field, cookie, csrfHeader string) {
		ctx := context.Background()
		if tok, ok := bearerToken(authorization); ok && (len(tok) > maxBearerBytes || !visibleASCII(tok)) {
			t.Fatalf("bearerToken accepted %q", tok)
		}
		if authorization != "" {
			if _, err := a.caller(ctx, authorization); tutorhub.ErrorCode(err) != tutorhub.EUNAUTHENTICATED {
				t.Fatalf("caller(%q) = %v, want unauthenticated", authorization, err)
			}
			_, err := a.authorize(ctx, "/t.v1.S/Public", authorization)
			if tok, ok := bearerToken(authorization); ok && serviceaccounts.LooksLikeKey(tok) {
				// A service-account key never runs as anonymous: a bad one is refused.
				if tutorhub.ErrorCode(err) != tutorhub.EUNAUTHENTICATED {
					t.Fatalf("public procedure with the key %q: %v, want unauthenticated", authorization, err)
				}
			} else if err != nil {
				t.Fatalf("public procedure with %q: %v, want anonymous", authorization, err)
			}
			if _, err := a.authorize(ctx, "/t.v1.S/Private", authorization); tutorhub.ErrorCode(err) != tutorhub.EUNAUTHENTICATED {
				t.Fatalf("protected procedure with %q: %v, want unauthenticated", authorization, err)
			}
		}
		header := http.Header{}
		header.Set("Cookie", cookie)
		header.Set(CSRFHeader, csrfHeader)
		for _, secure := range []bool{false, true} {
			tok, err := parseSessionCredential(field, header, secure, key)
			if err != nil {
				if code := tutorhub.ErrorCode(err); code != tutorhub.EUNAUTHENTICATED && code != tutorhub.EFORBIDDEN {
					t.Fatalf("parseSessionCredential(%q, %q, %q) = %v", field, cookie, csrfHeader, err)
				}
				continue
			}
			if tok == "" || len(tok) > maxSessionTokenBytes || !visibleASCII(tok) {
				t.Fatalf("accepted session token %q", tok)
			}
			if field == "" && csrfHeader != csrfTokenOf(key, tok) {
				t.Fatalf("cookie %q accepted without its session's CSRF token", tok)
			}
		}
	})
}
