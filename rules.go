package tutorhub

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zone validation must not depend on the host's zoneinfo
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// The one implementation of each input rule every domain package shares. Each rule reports
// a violation with the same rule id wherever it applies, so clients can branch on it.

// Violations collects field violations under a path prefix such as "profile.". The zero value
// is ready to use.
type Violations struct {
	Prefix string
	List   []Violation
}

// Add records a violation of rule on the field (relative to the prefix).
func (v *Violations) Add(field, rule, format string, args ...any) {
	v.List = append(v.List, Violation{Field: v.Prefix + field, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// Err is an EINVALID error carrying every violation with message, or nil when there is none.
func (v *Violations) Err(message string) error {
	if len(v.List) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: message, Violations: slices.Clone(v.List)}
}

// CheckPlainText enforces a length in characters and plain text: valid UTF-8, no control
// characters (line breaks and tabs only where multiline), no line or paragraph separators and
// no Unicode format characters (bidi overrides and the like) other than the zero-width joiner
// and non-joiner. Markup is kept as typed; clients render these fields as text. Rule ids:
// text.utf8, text.max_len, text.plain_text.
func CheckPlainText(v *Violations, field, s string, maxChars int, multiline bool) {
	if !utf8.ValidString(s) {
		v.Add(field, "text.utf8", "must be valid UTF-8")
		return
	}
	if n := utf8.RuneCountInString(s); n > maxChars {
		v.Add(field, "text.max_len", "at most %d characters, got %d", maxChars, n)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) && r != '\u200d' && r != '\u200c' {
			v.Add(field, "text.plain_text", "must not contain control or bidi characters (U+%04X)", r)
			return
		}
	}
}

// CheckTimeZone accepts an IANA zone name such as Europe/Berlin or UTC (rule time_zone.iana);
// "Local", abbreviations and offsets are refused. An empty zone is refused unless optional.
func CheckTimeZone(v *Violations, field, tz string, optional bool) {
	if tz == "" && optional {
		return
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" || !strings.Contains(tz, "/") && tz != "UTC" {
		v.Add(field, "time_zone.iana", "%q is not an IANA time zone such as Europe/Berlin", tz)
	}
}

// CanonicalLanguage returns the canonical form of a BCP 47 tag ("en-gb" becomes "en-GB"), or
// ok false for anything that is not one (including the empty and the undetermined tag).
func CanonicalLanguage(tag string) (canonical string, ok bool) {
	t, err := language.Parse(tag)
	if err != nil || t == language.Und {
		return "", false
	}
	return t.String(), true
}

// CheckLanguage is CanonicalLanguage as a violation (rule language.bcp47); it returns the
// canonical tag, or the input when it is refused.
func CheckLanguage(v *Violations, field, tag string) string {
	canonical, ok := CanonicalLanguage(tag)
	if !ok {
		v.Add(field, "language.bcp47", "%q is not a BCP 47 language tag such as en or pt-BR", tag)
		return tag
	}
	return canonical
}

// ApplyMask is the one field-mask rule of every update RPC: it calls the setter of each path,
// in order. A mask must name at least one path (update_mask.required); every path must have a
// setter (update_mask.known) and appear once (update_mask.unique). Violations are on the
// field update_mask, their message naming the path. Nothing is set when any path is refused.
func ApplyMask(paths []string, setters map[string]func()) error {
	v := &Violations{}
	if len(paths) == 0 {
		v.Add("update_mask", "update_mask.required", "name at least one field to update")
	}
	known := make([]string, 0, len(setters))
	for name := range setters {
		known = append(known, name)
	}
	slices.Sort(known)
	for i, path := range paths {
		switch {
		case setters[path] == nil:
			v.Add("update_mask", "update_mask.known", "paths[%d]: %q is not an updatable field; use one of %s", i, truncateRunes(path, 64), strings.Join(known, ", "))
		case slices.Index(paths, path) != i:
			v.Add("update_mask", "update_mask.unique", "paths[%d]: %q is named twice", i, truncateRunes(path, 64))
		}
	}
	if err := v.Err("invalid update_mask"); err != nil {
		return err
	}
	for _, path := range paths {
		setters[path]()
	}
	return nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
