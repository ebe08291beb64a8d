// Package pagetoken makes the opaque, tamper-evident keyset cursors every list RPC returns as
// next_page_token. A token carries the sort key of the last row of a page, bound by an HMAC to
// the list it came from (its scope: the procedure and its filters), so a client can neither
// forge a position nor replay a token against a different query.
package pagetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

const (
	version = 1
	macSize = 16 // truncated HMAC-SHA256: 128 bits is ample against forgery
	// MaxLen is the longest token Decode accepts; request validation enforces the same.
	MaxLen = 512
)

// ErrInvalid is returned for any token that is malformed, forged, truncated, from another
// scope or from an incompatible version. Callers map it to a field violation on page_token.
var ErrInvalid = errors.New("invalid page token")

// Codec encodes and verifies page tokens with one secret. It is safe for concurrent use.
type Codec struct {
	key []byte
}

// NewCodec returns a Codec keyed by secret. Every API replica must share the secret, or a
// token from one replica is refused by another.
func NewCodec(secret []byte) *Codec {
	k := make([]byte, len(secret))
	copy(k, secret)
	return &Codec{key: k}
}

// Encode returns the token for the keyset position pos (any JSON-serialisable value) of the
// list identified by scope.
func (c *Codec) Encode(scope string, pos any) (string, error) {
	body, err := json.Marshal(pos)
	if err != nil {
		return "", fmt.Errorf("encode page token: %w", err)
	}
	payload := make([]byte, 0, 1+len(body)+macSize)
	payload = append(payload, version)
	payload = append(payload, body...)
	payload = append(payload, c.mac(scope, payload)...)
	tok := base64.RawURLEncoding.EncodeToString(payload)
	if len(tok) > MaxLen {
		return "", fmt.Errorf("encode page token: %d bytes exceeds %d", len(tok), MaxLen)
	}
	return tok, nil
}

// Decode verifies token against scope and unmarshals its position into pos. Any failure is
// ErrInvalid, with no detail that would help forge a token.
func (c *Codec) Decode(scope, token string, pos any) error {
	if len(token) > MaxLen {
		return ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 1+macSize || raw[0] != version {
		return ErrInvalid
	}
	payload, sum := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	if !hmac.Equal(sum, c.mac(scope, payload)) {
		return ErrInvalid
	}
	if err := json.Unmarshal(payload[1:], pos); err != nil {
		return ErrInvalid
	}
	return nil
}

func (c *Codec) mac(scope string, payload []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum(nil)[:macSize]
}
