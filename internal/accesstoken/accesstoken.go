// Package accesstoken verifies the short-lived access tokens Kratos's session tokenizer
// mints: ES256 JWTs whose keys are read from a JWKS file and picked by kid. Verification is
// local (no network call per request). A token signed with a kid the verifier does not know
// makes it re-read the file, at most once per MinReloadInterval, so a key rotation is picked
// up without a restart and without letting forged kids trigger a reload per request.
package accesstoken

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalid is returned for every token that must be refused: malformed, badly signed,
// unknown key, wrong issuer or audience, expired, not yet valid or living longer than
// allowed. Callers answer Unauthenticated.
var ErrInvalid = errors.New("invalid access token")

// Claims are what tutorhub reads from a verified access token.
type Claims struct {
	// Subject is the identity id, tutorhub's user id.
	Subject string
	// SessionID is the Kratos session the token was minted from.
	SessionID     string
	Email         string
	EmailVerified bool
	// IssuedAt is when Kratos minted the token (whole seconds, Kratos's clock).
	IssuedAt time.Time
	Expiry   time.Time
}

// Options configure a Verifier.
type Options struct {
	// JWKSPath is the public key set file. A file holding private key material is refused:
	// the API needs only public keys, and must not be handed the key Kratos signs with.
	JWKSPath string
	// Issuer is the expected iss claim (Kratos's public base_url); a trailing slash is not
	// significant. Required.
	Issuer string
	// Audience is a value the aud claim must hold. Required.
	Audience string
	// MaxLifetime, when positive, refuses tokens whose exp is more than MaxLifetime after
	// their iat, so a revocation kept for MaxLifetime outlives every token it covers.
	MaxLifetime time.Duration
	// Leeway tolerates clock skew on exp, nbf and iat (default 30s).
	Leeway time.Duration
	// MinReloadInterval spaces reloads caused by unknown kids (default 10s).
	MinReloadInterval time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	o Options

	mu         sync.RWMutex
	keys       map[string]*ecdsa.PublicKey
	public     []byte // the public set as JSON, for /.well-known/jwks.json
	lastReload time.Time
}

// NewVerifier loads the key set; it fails when the issuer or audience is missing, or the
// file is unreadable, holds private key material or holds no usable key.
func NewVerifier(o Options) (*Verifier, error) {
	if o.Issuer == "" || o.Audience == "" {
		return nil, errors.New("access tokens: issuer and audience are required")
	}
	if o.Leeway <= 0 {
		o.Leeway = 30 * time.Second
	}
	if o.MinReloadInterval <= 0 {
		o.MinReloadInterval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &Verifier{o: o}
	if err := v.reload(); err != nil {
		return nil, err
	}
	return v, nil
}

// reload reads the key file and replaces the key set; a file holding a private key is
// refused and leaves the current set in place.
func (v *Verifier) reload() error {
	raw, err := os.ReadFile(v.o.JWKSPath)
	if err != nil {
		return fmt.Errorf("read jwks: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("parse jwks %s: %w", v.o.JWKSPath, err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	var pub jose.JSONWebKeySet
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return fmt.Errorf("jwks %s holds private key material (key %q): give the API the public set (jwksgen writes it beside the private one as *.public.json)", v.o.JWKSPath, k.KeyID)
		}
		pk := k.Public()
		ec, ok := pk.Key.(*ecdsa.PublicKey)
		if !ok || k.KeyID == "" || (k.Algorithm != "" && k.Algorithm != string(jose.ES256)) {
			continue
		}
		keys[k.KeyID] = ec
		pk.Algorithm = string(jose.ES256)
		pk.Use = "sig"
		pub.Keys = append(pub.Keys, pk)
	}
	if len(keys) == 0 {
		return fmt.Errorf("jwks %s holds no ES256 key with a kid", v.o.JWKSPath)
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return fmt.Errorf("encode public jwks: %w", err)
	}
	v.mu.Lock()
	v.keys, v.public, v.lastReload = keys, pubJSON, v.o.Now()
	v.mu.Unlock()
	return nil
}

// PublicJWKS is the public key set as JSON, for /.well-known/jwks.json.
func (v *Verifier) PublicJWKS() []byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.public
}

// key returns the key for kid, reloading the file once (rate-limited) if kid is unknown.
func (v *Verifier) key(kid string) *ecdsa.PublicKey {
	v.mu.RLock()
	k, last := v.keys[kid], v.lastReload
	v.mu.RUnlock()
	if k != nil {
		return k
	}
	if v.o.Now().Sub(last) < v.o.MinReloadInterval {
		return nil
	}
	v.mu.Lock()
	// Another request may have reloaded meanwhile; stamp the attempt even if it fails, so a
	// broken file is not re-read on every request.
	if v.o.Now().Sub(v.lastReload) >= v.o.MinReloadInterval {
		v.lastReload = v.o.Now()
		v.mu.Unlock()
		_ = v.reload()
	} else {
		v.mu.Unlock()
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.keys[kid]
}

type tokenClaims struct {
	jwt.Claims
	SessionID     string `json:"sid"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// Verify checks the token's signature, issuer, audience, validity period and lifetime and
// returns its claims. It does not know about revocations: see Revocations.
// Any failure is ErrInvalid, wrapped with the reason (safe to log: it never quotes the token).
func (v *Verifier) Verify(token string) (*Claims, error) {
	if len(token) > 8192 {
		return nil, fmt.Errorf("%w: too long", ErrInvalid)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: not one signature", ErrInvalid)
	}
	key := v.key(tok.Headers[0].KeyID)
	if key == nil {
		return nil, fmt.Errorf("%w: unknown key id", ErrInvalid)
	}
	var c tokenClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: no expiry or issue time", ErrInvalid)
	}
	if v.o.MaxLifetime > 0 && c.Expiry.Time().Sub(c.IssuedAt.Time()) > v.o.MaxLifetime {
		return nil, fmt.Errorf("%w: lifetime longer than %s", ErrInvalid, v.o.MaxLifetime)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Time: v.o.Now(), AnyAudience: jwt.Audience{v.o.Audience}}, v.o.Leeway); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if strings.TrimSuffix(c.Issuer, "/") != strings.TrimSuffix(v.o.Issuer, "/") {
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalid)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	return &Claims{
		Subject:       c.Subject,
		SessionID:     c.SessionID,
		Email:         c.Email,
		EmailVerified: c.EmailVerified,
		IssuedAt:      c.IssuedAt.Time(),
		Expiry:        c.Expiry.Time(),
	}, nil
}
