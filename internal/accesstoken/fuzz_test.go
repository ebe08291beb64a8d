package accesstoken_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/accesstoken"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, and everything but a
// genuine token is ErrInvalid.
func FuzzVerify(f *testing.F) {
	k := newKey(f, "k1")
	path := f.TempDir() + "/jwks.public.json"
	writeSet(f, path, k)
	now := time.Now()
	v, err := accesstoken.NewVerifier(accesstoken.Options{JWKSPath: path, Issuer: issuer, Audience: audience, MaxLifetime: 10 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	good := sign(f, k, valid(now))
	parts := strings.Split(good, ".")
	for _, seed := range []string{
		good,
		"",
		"not-a-jwt",
		"a.b.c",
		"....",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		good + "\x1b[31m",
		"\x07" + good,
		good[:len(good)-1] + "\b",
		strings.Repeat("A", 9000),
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		`{"alg":"none"}.e30.`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, accesstoken.ErrInvalid) {
				t.Fatalf("Verify error %v is not ErrInvalid", err)
			}
			if c != nil {
				t.Fatal("claims with an error")
			}
			return
		}
		if token != good {
			// Another encoding of the same signed token would have to verify too; anything
			// else accepted is a forgery.
			if c.Subject != "b78ea6c6-0000-4000-8000-000000000001" {
				t.Fatalf("accepted a token for %q", c.Subject)
			}
		}
	})
}
