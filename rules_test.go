package tutorhub_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub"
)

// rules returns the rule ids of err's violations, by field.
func rules(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	var e *tutorhub.Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("not a domain error: %v", err)
	}
	if e != nil {
		for _, v := range e.Violations {
			out[v.Field] = v.Rule
		}
	}
	return out
}

func TestCheckPlainText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		s         string
		multiline bool
		rule      string // "" when accepted
	}{
		{"plain text", "Ada Lovelace", false, ""},
		{"markup is text", "<b>bold</b> & co", false, ""},
		{"joiners in emoji and scripts", "👩\u200d🏫 می\u200cخواهم", false, ""},
		{"a line break on one line", "a\nb", false, "text.plain_text"},
		{"a line break where multiline", "a\nb\tc", true, ""},
		{"a NUL even where multiline", "a\x00b", true, "text.plain_text"},
		{"a bidi override", "abc\u202edcba", false, "text.plain_text"},
		{"a line separator", "a\u2028b", true, "text.plain_text"},
		{"invalid UTF-8", "a\xffb", false, "text.utf8"},
		{"too long, in characters", strings.Repeat("é", 21), false, "text.max_len"},
		{"as long as allowed", strings.Repeat("é", 20), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &tutorhub.Violations{Prefix: "p."}
			tutorhub.CheckPlainText(v, "name", tc.s, 20, tc.multiline)
			if got := rules(t, v.Err("invalid"))["p.name"]; got != tc.rule {
				t.Fatalf("rule %q, want %q", got, tc.rule)
			}
		})
	}
}

func TestCheckTimeZoneAndLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tz       string
		optional bool
		ok       bool
	}{
		{"Europe/Berlin", false, true}, {"America/Argentina/Buenos_Aires", false, true}, {"UTC", false, true},
		{"", true, true}, {"", false, false}, {"Local", false, false}, {"Mars/Olympus", false, false},
		{"CET", false, false}, {"+02:00", false, false},
	} {
		v := &tutorhub.Violations{}
		tutorhub.CheckTimeZone(v, "tz", tc.tz, tc.optional)
		if got := rules(t, v.Err("invalid"))["tz"]; (got == "") != tc.ok || !tc.ok && got != "time_zone.iana" {
			t.Errorf("%q (optional %v): rule %q, want ok=%v", tc.tz, tc.optional, got, tc.ok)
		}
	}
	for in, want := range map[string]string{"en": "en", "EN-gb": "en-GB", "pt-br": "pt-BR", "zh-hant-tw": "zh-Hant-TW", "": "", "und": "", "english please": ""} {
		got, ok := tutorhub.CanonicalLanguage(in)
		if got != want || ok != (want != "") {
			t.Errorf("CanonicalLanguage(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// ApplyMask is the one field-mask rule: every update RPC answers the same mistake the same way.
func TestApplyMask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		paths []string
		rules map[string]string
		set   []string
	}{
		{"named fields are set in order", []string{"b", "a"}, map[string]string{}, []string{"b", "a"}},
		{"an empty mask", nil, map[string]string{"update_mask": "update_mask.required"}, nil},
		{"an unknown path", []string{"a", "roles"}, map[string]string{"update_mask": "update_mask.known"}, nil},
		{"a nested path", []string{"profile.a"}, map[string]string{"update_mask": "update_mask.known"}, nil},
		{"a repeated path", []string{"a", "b", "a"}, map[string]string{"update_mask": "update_mask.unique"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var set []string
			err := tutorhub.ApplyMask(tc.paths, map[string]func(){
				"a": func() { set = append(set, "a") },
				"b": func() { set = append(set, "b") },
			})
			if got := rules(t, err); !mapsEqual(got, tc.rules) {
				t.Fatalf("rules %v, want %v", got, tc.rules)
			}
			if !slices.Equal(set, tc.set) {
				t.Fatalf("set %v, want %v (nothing is set when a path is refused)", set, tc.set)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
