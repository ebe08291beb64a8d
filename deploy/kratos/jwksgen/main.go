// Command jwksgen creates the ES256 key set Kratos signs session access tokens with.
//
// It writes a private JSON Web Key Set for Kratos's session tokenizer and the matching
// public set for services that verify the tokens. Kratos signs with the first key of the
// set, so -rotate puts a new key first and keeps the previous ones (up to -keep keys in
// all) in both sets: tokens signed by an older key stay verifiable until they expire.
// Without -rotate an existing set is left untouched, so running it twice is harmless.
//
// Usage: go run ./deploy/kratos/jwksgen [-out .data/kratos/jwks.json] [-rotate] [-keep 2]
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

func main() {
	out := flag.String("out", ".data/kratos/jwks.json", "path of the private key set (Kratos's tokenizer jwks_url)")
	public := flag.String("public", "", "path of the public key set (default: the -out path with .public.json)")
	rotate := flag.Bool("rotate", false, "prepend a new signing key even if the set exists")
	keep := flag.Int("keep", 2, "keys to keep after rotating, newest first")
	flag.Parse()
	if *public == "" {
		*public = strings.TrimSuffix(*out, ".json") + ".public.json"
	}
	if *keep < 1 {
		fmt.Fprintln(os.Stderr, "jwksgen: -keep must be at least 1")
		os.Exit(2)
	}
	created, err := run(*out, *public, *rotate, *keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwksgen:", err)
		os.Exit(1)
	}
	if created != "" {
		fmt.Printf("jwksgen: signing key %s written to %s (public set %s)\n", created, *out, *public)
	}
}

// run ensures a private set exists at out (rotating it if asked) and that the public set
// matches it. It returns the id of a newly created key, or "" if none was created.
func run(out, public string, rotate bool, keep int) (string, error) {
	set, err := readSet(out)
	if err != nil {
		return "", err
	}
	var created string
	if len(set.Keys) == 0 || rotate {
		key, err := newSigningKey()
		if err != nil {
			return "", err
		}
		created = key.KeyID
		set.Keys = append([]jose.JSONWebKey{key}, set.Keys...)
		if len(set.Keys) > keep {
			set.Keys = set.Keys[:keep]
		}
		if err := writeJSON(out, set, 0o600); err != nil {
			return "", err
		}
	}
	pub := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(set.Keys))}
	for _, k := range set.Keys {
		pub.Keys = append(pub.Keys, k.Public())
	}
	// The public set is derived, so it is rewritten every time to follow manual edits.
	if err := writeJSON(public, pub, 0o644); err != nil {
		return "", err
	}
	return created, nil
}

// newSigningKey returns a P-256 private key whose id is its RFC 7638 thumbprint.
func newSigningKey() (jose.JSONWebKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("generate key: %w", err)
	}
	key := jose.JSONWebKey{Key: priv, Algorithm: string(jose.ES256), Use: "sig"}
	thumb, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("thumbprint: %w", err)
	}
	key.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	return key, nil
}

func readSet(path string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return set, fmt.Errorf("parse %s: %w", path, err)
	}
	for _, k := range set.Keys {
		if k.IsPublic() {
			return set, fmt.Errorf("%s: key %s has no private part; Kratos cannot sign with it", path, k.KeyID)
		}
	}
	return set, nil
}

// writeJSON replaces path atomically so Kratos never reads a half-written set.
func writeJSON(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".jwks-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
