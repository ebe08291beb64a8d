package accesstoken_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tutorhub/tutorhub/internal/accesstoken"
)

const (
	issuer   = "http://127.0.0.1:4433/"
	audience = "tutorhub"
)

type testKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newKey(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, priv: k}
}

// writeSet writes the public halves of the keys as a JWKS file, as jwksgen does beside the
// private set.
func writeSet(t testing.TB, path string, keys ...testKey) {
	t.Helper()
	writeKeys(t, path, false, keys...)
}

// writeKeys writes a JWKS file of the keys, with their private parts if private.
func writeKeys(t testing.TB, path string, private bool, keys ...testKey) {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		var key any = &k.priv.PublicKey
		if private {
			key = k.priv
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key, KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type claims struct {
	jwt.Claims
	SID   string `json:"sid"`
	Email string `json:"email"`
}

func sign(t testing.TB, k testKey, c claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func valid(now time.Time) claims {
	return claims{
		Claims: jwt.Claims{
			Issuer: issuer, Subject: "b78ea6c6-0000-4000-8000-000000000001", Audience: jwt.Audience{audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)),
		},
		SID: "c0475d68-0000-4000-8000-000000000002", Email: "alice@example.com",
	}
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func setup(t *testing.T, keys ...testKey) (*accesstoken.Verifier, string, *clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeSet(t, path, keys...)
	c := &clock{}
	c.t.Store(time.Now().UnixNano())
	v, err := accesstoken.NewVerifier(accesstoken.Options{JWKSPath: path, Issuer: strings.TrimSuffix(issuer, "/"), Audience: audience, MaxLifetime: 10 * time.Minute, MinReloadInterval: time.Minute, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return v, path, c
}

func TestVerifyAcceptsAValidToken(t *testing.T) {
	k := newKey(t, "k1")
	v, _, c := setup(t, k)
	got, err := v.Verify(sign(t, k, valid(c.now())))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "b78ea6c6-0000-4000-8000-000000000001" || got.SessionID == "" || got.Email != "alice@example.com" {
		t.Fatalf("claims = %+v", got)
	}
}

func TestVerifyRefuses(t *testing.T) {
	k, other := newKey(t, "k1"), newKey(t, "k1")
	v, _, c := setup(t, k)
	now := c.now()
	good := sign(t, k, valid(now))
	parts := strings.Split(good, ".")
	expired := valid(now.Add(-time.Hour))
	future := valid(now.Add(time.Hour))
	wrongIss := valid(now)
	wrongIss.Issuer = "https://evil.example/"
	noSub := valid(now)
	noSub.Subject = ""
	noExp := valid(now)
	noExp.Expiry = nil
	noIat := valid(now)
	noIat.IssuedAt = nil
	noAud := valid(now)
	noAud.Audience = nil
	wrongAud := valid(now)
	wrongAud.Audience = jwt.Audience{"another-api"}
	tooLong := valid(now)
	tooLong.Expiry = jwt.NewNumericDate(now.Add(10*time.Minute + time.Second))
	hs256, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	hsTok, _ := jwt.Signed(hs256).Claims(valid(now)).Serialize()
	for name, tok := range map[string]string{
		"expired":             sign(t, k, expired),
		"not yet valid":       sign(t, k, future),
		"wrong issuer":        sign(t, k, wrongIss),
		"no subject":          sign(t, k, noSub),
		"no expiry":           sign(t, k, noExp),
		"no issue time":       sign(t, k, noIat),
		"no audience":         sign(t, k, noAud),
		"wrong audience":      sign(t, k, wrongAud),
		"lives too long":      sign(t, k, tooLong),
		"signed by other key": sign(t, other, valid(now)),
		"tampered payload":    parts[0] + "." + strings.Repeat("A", len(parts[1])) + "." + parts[2],
		"tampered signature":  parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"hs256":               hsTok,
		"garbage":             "not-a-jwt",
		"empty":               "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(tok); !errors.Is(err, accesstoken.ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestVerifyAcceptsAudienceAmongSeveral(t *testing.T) {
	k := newKey(t, "k1")
	v, _, c := setup(t, k)
	cl := valid(c.now())
	cl.Audience = jwt.Audience{"another-api", audience}
	if _, err := v.Verify(sign(t, k, cl)); err != nil {
		t.Fatal(err)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	k := newKey(t, "k1")
	dir := t.TempDir()
	private, public := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "jwks.public.json")
	writeKeys(t, private, true, k)
	writeSet(t, public, k)
	for name, o := range map[string]accesstoken.Options{
		"a file with private key material": {JWKSPath: private, Issuer: issuer, Audience: audience},
		"no issuer":                        {JWKSPath: public, Audience: audience},
		"no audience":                      {JWKSPath: public, Issuer: issuer},
		"a missing file":                   {JWKSPath: filepath.Join(dir, "none.json"), Issuer: issuer, Audience: audience},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := accesstoken.NewVerifier(o); err == nil {
				t.Fatal("NewVerifier succeeded")
			}
		})
	}
	t.Run("private key material is named", func(t *testing.T) {
		_, err := accesstoken.NewVerifier(accesstoken.Options{JWKSPath: private, Issuer: issuer, Audience: audience})
		if err == nil || !strings.Contains(err.Error(), "private key") {
			t.Fatalf("err = %v, want one naming private key material", err)
		}
	})
}

func TestReloadRefusesPrivateKeysAndKeepsTheSet(t *testing.T) {
	old, next := newKey(t, "old"), newKey(t, "next")
	v, path, c := setup(t, old)
	c.advance(2 * time.Minute)
	writeKeys(t, path, true, next, old)
	if _, err := v.Verify(sign(t, next, valid(c.now()))); err == nil {
		t.Fatal("a key from a private set was loaded")
	}
	if _, err := v.Verify(sign(t, old, valid(c.now()))); err != nil {
		t.Fatalf("the loaded set was dropped: %v", err)
	}
}

func TestKeyRotationReloadsOnUnknownKidRateLimited(t *testing.T) {
	old, next, third := newKey(t, "old"), newKey(t, "next"), newKey(t, "third")
	v, path, c := setup(t, old)
	c.advance(2 * time.Minute)
	// Rotation: the new key first, the old one kept.
	writeSet(t, path, next, old)
	if _, err := v.Verify(sign(t, next, valid(c.now()))); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if _, err := v.Verify(sign(t, old, valid(c.now()))); err != nil {
		t.Fatalf("token of the previous key: %v", err)
	}
	// A second rotation right away is not seen until the reload interval passes: unknown
	// kids cannot make the verifier read the file on every request.
	writeSet(t, path, third, next)
	if _, err := v.Verify(sign(t, third, valid(c.now()))); err == nil {
		t.Fatal("reloaded within the minimum interval")
	}
	c.advance(time.Minute + time.Second)
	if _, err := v.Verify(sign(t, third, valid(c.now()))); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}

func TestPublicJWKSHasNoPrivateParts(t *testing.T) {
	v, _, _ := setup(t, newKey(t, "k1"), newKey(t, "k2"))
	var set map[string][]map[string]any
	if err := json.Unmarshal(v.PublicJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set["keys"]) != 2 {
		t.Fatalf("keys = %v", set)
	}
	for _, k := range set["keys"] {
		if _, ok := k["d"]; ok {
			t.Fatal("public set holds a private key")
		}
	}
}

// BenchmarkVerifyAccessToken is the cost every authenticated request pays to check its
// access token: one ES256 signature verification and claim checks, no I/O.
func BenchmarkVerifyAccessToken(b *testing.B) {
	k := newKey(b, "k1")
	path := filepath.Join(b.TempDir(), "jwks.json")
	writeSet(b, path, k)
	v, err := accesstoken.NewVerifier(accesstoken.Options{JWKSPath: path, Issuer: issuer, Audience: audience})
	if err != nil {
		b.Fatal(err)
	}
	tok := sign(b, k, valid(time.Now()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
