package serviceaccounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"hash/crc32"
	"strings"
)

// Key format: "thk_" + prefix + "_" + secret + checksum, all lower-case base32 (a-z, 2-7):
//
//	thk_<prefix: 10 chars, 50 random bits>_<secret: 52 chars, 256 random bits><checksum: 7 chars>
//
// The prefix is public: it names the key in lists and finds its row. The secret is never
// stored; the database keeps SHA-256 of the whole key. The checksum is CRC-32 (IEEE) of
// everything before it, so a mistyped, truncated or made-up key is refused without a
// lookup, and secret scanners can tell a real key from random text.
const (
	// KeyPrefix starts every key, so a key is recognisable in a config file or a log.
	KeyPrefix = "thk_"
	// KeyLength is the length of every well-formed key.
	KeyLength = len(KeyPrefix) + prefixLength + 1 + secretLength + checksumLength

	prefixLength   = 10 // 50 bits
	secretLength   = 52 // 256 bits, base32 without padding
	checksumLength = 7  // 32 bits
	secretBytes    = 32
	prefixBytes    = 7 // 56 bits drawn, the first 50 kept
)

// encoding is base32 in lower case without padding: keys are case-sensitive and copyable by
// double click (no punctuation besides '_').
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewKey returns a new random key and its public prefix.
func NewKey() (key, prefix string, err error) {
	var p [prefixBytes]byte
	var s [secretBytes]byte
	if _, err := rand.Read(p[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(s[:]); err != nil {
		return "", "", err
	}
	prefix = encoding.EncodeToString(p[:])[:prefixLength]
	body := KeyPrefix + prefix + "_" + encoding.EncodeToString(s[:])
	return body + checksum(body), prefix, nil
}

// ParseKey returns the public prefix of a well-formed key: the right length, "thk_", base32
// characters only, and a checksum that matches. ok is false for anything else, without
// saying which check failed.
func ParseKey(key string) (prefix string, ok bool) {
	if len(key) != KeyLength || !strings.HasPrefix(key, KeyPrefix) {
		return "", false
	}
	rest := key[len(KeyPrefix):]
	if rest[prefixLength] != '_' {
		return "", false
	}
	prefix = rest[:prefixLength]
	if !base32Chars(prefix) || !base32Chars(rest[prefixLength+1:]) {
		return "", false
	}
	body, sum := key[:len(key)-checksumLength], key[len(key)-checksumLength:]
	if checksum(body) != sum {
		return "", false
	}
	return prefix, true
}

// LooksLikeKey reports whether a bearer credential is meant as a service-account key (it
// starts with KeyPrefix), well-formed or not: such a credential is never tried as an access
// token.
func LooksLikeKey(credential string) bool {
	return strings.HasPrefix(credential, KeyPrefix)
}

// Hash is what the database stores of a key: SHA-256 of the whole key. The key's secret
// holds 256 random bits, so a slow password hash would add cost and no protection.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// checksum is CRC-32 of body in base32, 7 characters.
func checksum(body string) string {
	c := crc32.ChecksumIEEE([]byte(body))
	b := [4]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}
	return encoding.EncodeToString(b[:])
}

func base32Chars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
