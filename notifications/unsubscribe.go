package notifications

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/google/uuid"
)

// Signer signs and checks one-click unsubscribe links: a token names a user and a category
// and carries an HMAC-SHA256 under a configured secret
// (TUTORHUB_NOTIFICATIONS_UNSUBSCRIBE_SECRET), so anyone holding the mail can unsubscribe
// its recipient from that category's mail without signing in, and nobody can forge a link
// for another user or category.
type Signer struct{ key []byte }

// NewSigner returns a Signer with secret as its key; it refuses a secret shorter than 32
// bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, errors.New("unsubscribe secret: at least 32 bytes")
	}
	return &Signer{key: append([]byte("tutorhub unsubscribe v1\x00"), secret...)}, nil
}

// ErrBadToken is an unsubscribe token that is malformed, tampered with or signed with
// another key.
var ErrBadToken = errors.New("the unsubscribe link is not valid")

// MaxTokenLen bounds the tokens Verify reads.
const MaxTokenLen = 200

// Sign returns the token of (user, category): "<user id>.<category>.<signature>", URL-safe.
func (s *Signer) Sign(user uuid.UUID, c Category) string {
	payload := user.String() + "." + string(c)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// Verify returns the user and category a token names, or ErrBadToken. The security category
// is never accepted: its mail cannot be turned off.
func (s *Signer) Verify(token string) (uuid.UUID, Category, error) {
	if len(token) > MaxTokenLen {
		return uuid.Nil, "", ErrBadToken
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return uuid.Nil, "", ErrBadToken
	}
	payload, sig := token[:i], token[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return uuid.Nil, "", ErrBadToken
	}
	idText, cat, ok := strings.Cut(payload, ".")
	if !ok {
		return uuid.Nil, "", ErrBadToken
	}
	id, err := uuid.Parse(idText)
	if err != nil || id == uuid.Nil || !KnownCategory(cat) || Category(cat) == CategorySecurity {
		return uuid.Nil, "", ErrBadToken
	}
	return id, Category(cat), nil
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

// VerifyUnsubscribe checks an unsubscribe token, changing nothing.
func (s *Service) VerifyUnsubscribe(token string) (uuid.UUID, Category, error) {
	if s.o.Unsubscribe == nil {
		return uuid.Nil, "", ErrBadToken
	}
	return s.o.Unsubscribe.Verify(token)
}
