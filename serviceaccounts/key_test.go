package serviceaccounts

import (
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub"
)

func TestNewKeyIsWellFormedAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		key, prefix, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != KeyLength || !strings.HasPrefix(key, KeyPrefix+prefix+"_") {
			t.Fatalf("key %q (len %d) with prefix %q", key, len(key), prefix)
		}
		got, ok := ParseKey(key)
		if !ok || got != prefix {
			t.Fatalf("ParseKey(new key) = %q, %v; want %q", got, ok, prefix)
		}
		if seen[key] || seen[prefix] {
			t.Fatalf("key or prefix repeated after %d keys", i)
		}
		seen[key], seen[prefix] = true, true
	}
}

// The checksum catches every single mistyped character, so a mistyped key is refused
// without a lookup.
func TestParseKeyRefusesEverySingleCharacterChange(t *testing.T) {
	t.Parallel()
	key, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(key); i++ {
		for _, c := range []byte{'a', 'z', '2', '7', 'A', '_', '0', '-'} {
			if key[i] == c {
				continue
			}
			changed := key[:i] + string(c) + key[i+1:]
			if _, ok := ParseKey(changed); ok {
				t.Fatalf("key with position %d changed to %q accepted", i, c)
			}
		}
	}
}

func TestParseKeyRefusesMalformedKeys(t *testing.T) {
	t.Parallel()
	key, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]string{
		"empty":              "",
		"only the prefix":    KeyPrefix,
		"truncated":          key[:len(key)-1],
		"one character more": key + "a",
		"upper case":         strings.ToUpper(key),
		"another scheme":     "thx_" + key[4:],
		"a JWT":              "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
		"no separator":       KeyPrefix + strings.Repeat("a", KeyLength-len(KeyPrefix)),
	} {
		if _, ok := ParseKey(k); ok {
			t.Errorf("%s: %q accepted", name, k)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	key, _, _ := NewKey()
	f.Add(key)
	f.Add("")
	f.Add(KeyPrefix + "aaaaaaaaaa_")
	f.Add(strings.Repeat("_", KeyLength))
	f.Fuzz(func(t *testing.T, s string) {
		prefix, ok := ParseKey(s)
		if !ok {
			if prefix != "" {
				t.Fatalf("refused key returned prefix %q", prefix)
			}
			return
		}
		if len(s) != KeyLength || s[len(KeyPrefix):len(KeyPrefix)+prefixLength] != prefix || !LooksLikeKey(s) {
			t.Fatalf("accepted %q with prefix %q", s, prefix)
		}
		if body := s[:len(s)-checksumLength]; checksum(body) != s[len(s)-checksumLength:] {
			t.Fatalf("accepted %q with a wrong checksum", s)
		}
	})
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		in     []string
		want   []Scope
		fields []string
	}{
		{"known scopes sorted without duplicates", []string{"tutors:read", "search:read", "tutors:read"}, []Scope{SearchRead, TutorsRead}, nil},
		{"a reserved scope may be granted", []string{"uploads:write"}, []Scope{UploadsWrite}, nil},
		{"none", nil, nil, []string{"scopes"}},
		{"unknown names, one violation each", []string{"tutors:read", "tutors:write", "admin"}, nil, []string{"scopes[1]", "scopes[2]"}},
		{"case matters", []string{"Tutors:Read"}, nil, []string{"scopes[0]"}},
		{"too many", make([]string, MaxScopes+1), nil, []string{"scopes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v tutorhub.Violations
			got := ParseScopes(&v, "scopes", tc.in)
			var fields []string
			for _, x := range v.List {
				fields = append(fields, x.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("violations on %v, want %v (%v)", fields, tc.fields, v.List)
			}
			if tc.fields == nil && strings.Join(scopeStrings(got), ",") != strings.Join(scopeStrings(tc.want), ",") {
				t.Fatalf("scopes %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseScopes(f *testing.F) {
	f.Add("tutors:read", "search:read")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		var v tutorhub.Violations
		got := ParseScopes(&v, "scopes", []string{a, b})
		if len(v.List) == 0 {
			for _, s := range got {
				if !Known(s) {
					t.Fatalf("unknown scope %q accepted", s)
				}
			}
			return
		}
		for _, x := range v.List {
			if x.Rule != "scopes.known" || len(x.Message) > 400 {
				t.Fatalf("violation %+v", x)
			}
		}
	})
}
