package server

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zone validation must not depend on the host's zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/language"

	"github.com/tutorhub/tutorhub"
)

// Limits of a tutor profile, the same as the protovalidate rules in tutor.proto and the
// CHECK constraints of the tutors table.
const (
	maxHeadlineChars   = 120
	maxBioChars        = 5000
	maxSubjects        = 20
	maxLanguages       = 10
	maxSlots           = 50
	maxHourlyRateMinor = 100_000_000
	minutesPerDay      = 24 * 60
)

// tutorProfile is the editable part of a tutor, in the terms the database stores.
type tutorProfile struct {
	Headline        string
	Bio             string
	Subjects        []tutorSubject
	HourlyRateMinor int64
	Currency        string
	Languages       []string
	LessonModes     []string
	TimeZone        string
	Availability    []weeklySlot
}

// tutorSubject is a catalogue subject and the levels (names such as "primary") it is taught at.
type tutorSubject struct {
	SubjectID uuid.UUID `json:"subject_id"`
	Levels    []string  `json:"levels"`
}

// weeklySlot is a window of one weekday: minutes from midnight, end exclusive.
type weeklySlot struct {
	Day   int32 `json:"day"` // 1 Monday .. 7 Sunday
	Start int32 `json:"start"`
	End   int32 `json:"end"`
}

// Level and lesson mode names as stored; the index is the protobuf enum number.
var (
	levelNames      = []string{"", "primary", "secondary", "upper_secondary", "undergraduate", "postgraduate", "adult"}
	lessonModeNames = []string{"", "online", "in_person"}
)

func enumName(names []string, n int32) (string, bool) {
	if n <= 0 || int(n) >= len(names) {
		return "", false
	}
	return names[n], true
}

func enumNumber(names []string, name string) int32 {
	return int32(max(slices.Index(names, name), 0))
}

// currencyMaxMinor lists the supported ISO 4217 currencies with the highest hourly rate
// accepted in each, in minor units: about 5,000 US dollars, far above any real tutor and
// low enough to catch a rate typed in the wrong unit.
var currencyMaxMinor = map[string]int64{
	"USD": 5_000_00, "EUR": 5_000_00, "GBP": 4_000_00, "CHF": 5_000_00, "CAD": 7_000_00,
	"AUD": 8_000_00, "NZD": 8_000_00, "SEK": 50_000_00, "NOK": 50_000_00, "DKK": 35_000_00,
	"PLN": 20_000_00, "CZK": 120_000_00, "HUF": 1_800_000_00, "RON": 23_000_00, "TRY": 170_000_00,
	"ILS": 19_000_00, "AED": 18_000_00, "SAR": 19_000_00, "INR": 420_000_00, "SGD": 7_000_00,
	"HKD": 40_000_00, "CNY": 36_000_00, "JPY": 750_000, "KRW": 7_000_000, "BRL": 28_000_00,
	"MXN": 90_000_00, "ARS": 5_000_000_00, "CLP": 5_000_000, "COP": 20_000_000_00, "ZAR": 90_000_00,
	"NGN": 7_500_000_00, "KES": 650_000_00, "EGP": 250_000_00, "THB": 170_000_00, "MYR": 22_000_00,
	"PHP": 290_000_00, "IDR": 80_000_000_00, "VND": 125_000_000,
}

// violations collects field violations under a path prefix such as "profile".
type violations struct {
	prefix string
	list   []tutorhub.Violation
}

func (v *violations) add(field, rule, format string, args ...any) {
	v.list = append(v.list, tutorhub.Violation{Field: v.prefix + field, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (v *violations) err() error {
	if len(v.list) == 0 {
		return nil
	}
	return &tutorhub.Error{Code: tutorhub.EINVALID, Message: "invalid tutor profile", Violations: v.list}
}

// validateTutorProfile checks every rule of a profile that needs no database, normalising
// language tags to their canonical form. Fields may be empty (a draft); publishing checks
// completeness separately. Paths start with prefix (e.g. "profile.").
func validateTutorProfile(p *tutorProfile, prefix string) *violations {
	v := &violations{prefix: prefix}
	checkText(v, "headline", p.Headline, maxHeadlineChars, false)
	checkText(v, "bio", p.Bio, maxBioChars, true)

	if len(p.Subjects) > maxSubjects {
		v.add("subjects", "subjects.max_items", "at most %d subjects", maxSubjects)
	}
	seenSubjects := map[uuid.UUID]bool{}
	for i, s := range p.Subjects {
		field := fmt.Sprintf("subjects[%d]", i)
		if s.SubjectID == uuid.Nil {
			v.add(field+".subject_id", "subjects.subject_id", "subject_id is required")
		} else if seenSubjects[s.SubjectID] {
			v.add(field+".subject_id", "subjects.unique", "subject listed twice")
		}
		seenSubjects[s.SubjectID] = true
		if len(s.Levels) == 0 {
			v.add(field+".levels", "subjects.levels.required", "at least one level is required")
		}
		for j, l := range s.Levels {
			if enumNumber(levelNames, l) == 0 || slices.Index(s.Levels, l) != j {
				v.add(fmt.Sprintf("%s.levels[%d]", field, j), "subjects.levels.valid", "unknown or repeated level")
			}
		}
	}

	switch limit, known := currencyMaxMinor[p.Currency]; {
	case p.Currency != "" && !known:
		v.add("currency", "currency.supported", "%q is not a supported ISO 4217 currency", p.Currency)
	case p.HourlyRateMinor < 0:
		v.add("hourly_rate_minor", "hourly_rate_minor.positive", "the rate must not be negative")
	case p.HourlyRateMinor > 0 && p.Currency == "":
		v.add("currency", "currency.required", "a rate needs a currency")
	case known && p.HourlyRateMinor > limit:
		v.add("hourly_rate_minor", "hourly_rate_minor.max", "at most %d minor units of %s per hour", limit, p.Currency)
	case p.HourlyRateMinor > maxHourlyRateMinor:
		v.add("hourly_rate_minor", "hourly_rate_minor.max", "at most %d minor units per hour", int64(maxHourlyRateMinor))
	}

	if len(p.Languages) > maxLanguages {
		v.add("languages", "languages.max_items", "at most %d languages", maxLanguages)
	}
	for i, l := range p.Languages {
		tag, err := language.Parse(l)
		if err != nil || tag == language.Und {
			v.add(fmt.Sprintf("languages[%d]", i), "languages.bcp47", "%q is not a BCP 47 language tag", l)
			continue
		}
		p.Languages[i] = tag.String()
		if slices.Index(p.Languages, p.Languages[i]) != i {
			v.add(fmt.Sprintf("languages[%d]", i), "languages.unique", "language listed twice")
		}
	}
	for i, m := range p.LessonModes {
		if enumNumber(lessonModeNames, m) == 0 || slices.Index(p.LessonModes, m) != i {
			v.add(fmt.Sprintf("lesson_modes[%d]", i), "lesson_modes.valid", "unknown or repeated lesson mode")
		}
	}

	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "Local" || !strings.Contains(p.TimeZone, "/") && p.TimeZone != "UTC" {
			v.add("time_zone", "time_zone.iana", "%q is not an IANA time zone such as Europe/Berlin", p.TimeZone)
		}
	}

	if len(p.Availability) > maxSlots {
		v.add("availability", "availability.max_items", "at most %d slots", maxSlots)
	}
	for i, s := range p.Availability {
		field := fmt.Sprintf("availability[%d]", i)
		switch {
		case s.Day < 1 || s.Day > 7:
			v.add(field+".day_of_week", "availability.day_of_week", "day_of_week is required")
		case s.Start < 0 || s.Start >= minutesPerDay:
			v.add(field+".start_minute", "availability.start_minute", "start_minute must be between 0 and 1439")
		case s.End <= s.Start || s.End > minutesPerDay:
			v.add(field+".end_minute", "availability.end_minute", "end_minute must be after start_minute and at most 1440")
		default:
			for j, o := range p.Availability[:i] {
				if o.Day == s.Day && o.Start < s.End && s.Start < o.End && o.End > o.Start {
					v.add(field+".start_minute", "availability.overlap", "overlaps availability[%d]", j)
					break
				}
			}
		}
	}
	return v
}

// checkText enforces a length in characters and plain text: no control characters, except
// line breaks and tabs where multiline is allowed. Markup is kept as typed; clients render
// these fields as text.
func checkText(v *violations, field, s string, maxChars int, multiline bool) {
	if !utf8.ValidString(s) {
		v.add(field, field+".utf8", "must be valid UTF-8")
		return
	}
	if n := utf8.RuneCountInString(s); n > maxChars {
		v.add(field, field+".max_len", "at most %d characters, got %d", maxChars, n)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) && r != '\u200d' && r != '\u200c' {
			v.add(field, field+".plain_text", "must not contain control characters (U+%04X)", r)
			return
		}
	}
}

// missingForPublish names every field a profile must fill before it can be published.
func missingForPublish(p *tutorProfile) []string {
	var missing []string
	if strings.TrimSpace(p.Headline) == "" {
		missing = append(missing, "headline")
	}
	if strings.TrimSpace(p.Bio) == "" {
		missing = append(missing, "bio")
	}
	if len(p.Subjects) == 0 {
		missing = append(missing, "subjects")
	}
	if p.HourlyRateMinor <= 0 {
		missing = append(missing, "hourly_rate_minor")
	}
	if p.Currency == "" {
		missing = append(missing, "currency")
	}
	if len(p.Languages) == 0 {
		missing = append(missing, "languages")
	}
	if len(p.LessonModes) == 0 {
		missing = append(missing, "lesson_modes")
	}
	if p.TimeZone == "" {
		missing = append(missing, "time_zone")
	}
	if len(p.Availability) == 0 {
		missing = append(missing, "availability")
	}
	return missing
}

// tutorProfileFields are the update_mask paths UpdateTutorProfile accepts.
var tutorProfileFields = []string{
	"headline", "bio", "subjects", "hourly_rate_minor", "currency", "languages",
	"lesson_modes", "time_zone", "availability",
}

// applyMask copies the fields named by paths from src into dst. Unknown or repeated paths are
// violations on update_mask.
func applyMask(dst, src *tutorProfile, paths []string) error {
	v := &violations{}
	if len(paths) == 0 {
		v.add("update_mask", "update_mask.required", "name at least one field to update")
	}
	for i, path := range paths {
		if slices.Index(paths, path) != i {
			v.add(fmt.Sprintf("update_mask.paths[%d]", i), "update_mask.unique", "%q is named twice", path)
			continue
		}
		switch path {
		case "headline":
			dst.Headline = src.Headline
		case "bio":
			dst.Bio = src.Bio
		case "subjects":
			dst.Subjects = src.Subjects
		case "hourly_rate_minor":
			dst.HourlyRateMinor = src.HourlyRateMinor
		case "currency":
			dst.Currency = src.Currency
		case "languages":
			dst.Languages = src.Languages
		case "lesson_modes":
			dst.LessonModes = src.LessonModes
		case "time_zone":
			dst.TimeZone = src.TimeZone
		case "availability":
			dst.Availability = src.Availability
		default:
			v.add(fmt.Sprintf("update_mask.paths[%d]", i), "update_mask.known", "%q is not a profile field; use one of %s", path, strings.Join(tutorProfileFields, ", "))
		}
	}
	return v.err()
}
