package pagetoken

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

type position struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestRoundTrip(t *testing.T) {
	c := NewCodec(secret)
	tok, err := c.Encode("subjects", position{"Physics", "b7d1"})
	if err != nil {
		t.Fatal(err)
	}
	var got position
	if err := c.Decode("subjects", tok, &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got != (position{"Physics", "b7d1"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestDecodeRefuses(t *testing.T) {
	c := NewCodec(secret)
	tok, err := c.Encode("subjects|category=STEM", position{"Physics", "b7d1"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[3] ^= 0x01
	cases := []struct {
		name, scope, token string
	}{
		{"a token from another scope", "subjects", tok},
		{"a token signed with another secret", "subjects|category=STEM", mustEncode(t, NewCodec([]byte("another secret, also 32 bytes long!")), "subjects|category=STEM")},
		{"a flipped payload bit", "subjects|category=STEM", base64.RawURLEncoding.EncodeToString(flipped)},
		{"a truncated token", "subjects|category=STEM", tok[:len(tok)-4]},
		{"not base64", "subjects|category=STEM", "!!!"},
		{"empty", "subjects|category=STEM", ""},
		{"too long", "subjects|category=STEM", strings.Repeat("A", MaxLen+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p position
			if err := c.Decode(tc.scope, tc.token, &p); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode = %v, want ErrInvalid", err)
			}
		})
	}
}

func mustEncode(t *testing.T, c *Codec, scope string) string {
	t.Helper()
	tok, err := c.Encode(scope, position{"Physics", "b7d1"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// FuzzDecode: no input panics, and only tokens this codec made are accepted.
func FuzzDecode(f *testing.F) {
	c := NewCodec(secret)
	f.Add(mustEncodeF(c), "subjects")
	f.Add("", "subjects")
	f.Add("AQ", "")
	f.Fuzz(func(t *testing.T, token, scope string) {
		var p position
		if err := c.Decode(scope, token, &p); err == nil {
			again, err := c.Encode(scope, p)
			if err != nil {
				t.Fatalf("accepted token does not re-encode: %v", err)
			}
			var q position
			if err := c.Decode(scope, again, &q); err != nil || q != p {
				t.Fatalf("re-encoded token does not round-trip: %v", err)
			}
		}
	})
}

func mustEncodeF(c *Codec) string {
	tok, err := c.Encode("subjects", position{"Physics", "b7d1"})
	if err != nil {
		panic(err)
	}
	return tok
}
