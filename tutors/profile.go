package tutors

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
)

// Limits of a tutor profile, the same as the protovalidate rules in tutor.proto and the
// CHECK constraints of the tutors table.
const (
	MaxHeadlineChars   = 120
	MaxBioChars        = 5000
	MaxSubjects        = 20
	MaxLanguages       = 10
	MaxSlots           = 50
	MaxHourlyRateMinor = 100_000_000
	minutesPerDay      = 24 * 60
)

// Profile is the editable part of a tutor.
type Profile struct {
	Headline        string    `json:"headline"`
	Bio             string    `json:"bio"`
	Subjects        []Subject `json:"subjects"`
	HourlyRateMinor int64     `json:"hourly_rate_minor"`
	// Currency is an ISO 4217 code; rates compare only within one currency.
	Currency     string   `json:"currency"`
	Languages    []string `json:"languages"`
	LessonModes  []string `json:"lesson_modes"`
	TimeZone     string   `json:"time_zone"`
	Availability []Slot   `json:"availability"`
}

// Subject is a catalogue subject and the levels (names from Levels) it is taught at.
type Subject struct {
	SubjectID uuid.UUID `json:"subject_id"`
	Levels    []string  `json:"levels"`
}

// Slot is a weekly window of one weekday: minutes from midnight, end exclusive.
type Slot struct {
	Day   int32 `json:"day"` // 1 Monday .. 7 Sunday
	Start int32 `json:"start"`
	End   int32 `json:"end"`
}

// Levels and LessonModes are the names a profile may use, as stored.
var (
	Levels      = []string{"primary", "secondary", "upper_secondary", "undergraduate", "postgraduate", "adult"}
	LessonModes = []string{"online", "in_person"}
)

// ProfileFields are the profile's fields, by their update-mask path, in the order
// MissingForPublish reports them.
var ProfileFields = []string{
	"headline", "bio", "subjects", "hourly_rate_minor", "currency", "languages",
	"lesson_modes", "time_zone", "availability",
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

// SupportedCurrency reports whether code is an ISO 4217 currency a profile may charge in.
func SupportedCurrency(code string) bool {
	_, ok := currencyMaxMinor[code]
	return ok
}

// Validate checks every rule of a profile that needs no database, normalising language tags
// to their canonical form. Fields may be empty (a draft); publishing checks completeness
// separately (MissingForPublish). Violations are under prefix (e.g. "profile.").
func (p *Profile) Validate(prefix string) *tutorhub.Violations {
	v := &tutorhub.Violations{Prefix: prefix}
	tutorhub.CheckPlainText(v, "headline", p.Headline, MaxHeadlineChars, false)
	tutorhub.CheckPlainText(v, "bio", p.Bio, MaxBioChars, true)
	p.validateSubjects(v)
	p.validateRate(v)

	if len(p.Languages) > MaxLanguages {
		v.Add("languages", "languages.max_items", "at most %d languages", MaxLanguages)
	}
	for i, l := range p.Languages {
		field := fmt.Sprintf("languages[%d]", i)
		before := len(v.List)
		p.Languages[i] = tutorhub.CheckLanguage(v, field, l)
		if len(v.List) == before && slices.Index(p.Languages, p.Languages[i]) != i {
			v.Add(field, "languages.unique", "language listed twice")
		}
	}
	for i, m := range p.LessonModes {
		if !slices.Contains(LessonModes, m) || slices.Index(p.LessonModes, m) != i {
			v.Add(fmt.Sprintf("lesson_modes[%d]", i), "lesson_modes.valid", "unknown or repeated lesson mode")
		}
	}
	tutorhub.CheckTimeZone(v, "time_zone", p.TimeZone, true)
	p.validateAvailability(v)
	return v
}

func (p *Profile) validateSubjects(v *tutorhub.Violations) {
	if len(p.Subjects) > MaxSubjects {
		v.Add("subjects", "subjects.max_items", "at most %d subjects", MaxSubjects)
	}
	seen := map[uuid.UUID]bool{}
	for i, s := range p.Subjects {
		field := fmt.Sprintf("subjects[%d]", i)
		if s.SubjectID == uuid.Nil {
			v.Add(field+".subject_id", "subjects.subject_id", "subject_id is required")
		} else if seen[s.SubjectID] {
			v.Add(field+".subject_id", "subjects.unique", "subject listed twice")
		}
		seen[s.SubjectID] = true
		if len(s.Levels) == 0 {
			v.Add(field+".levels", "subjects.levels.required", "at least one level is required")
		}
		for j, l := range s.Levels {
			if !slices.Contains(Levels, l) || slices.Index(s.Levels, l) != j {
				v.Add(fmt.Sprintf("%s.levels[%d]", field, j), "subjects.levels.valid", "unknown or repeated level")
			}
		}
	}
}

func (p *Profile) validateRate(v *tutorhub.Violations) {
	switch limit, known := currencyMaxMinor[p.Currency]; {
	case p.Currency != "" && !known:
		v.Add("currency", "currency.supported", "%q is not a supported ISO 4217 currency", p.Currency)
	case p.HourlyRateMinor < 0:
		v.Add("hourly_rate_minor", "hourly_rate_minor.positive", "the rate must not be negative")
	case p.HourlyRateMinor > 0 && p.Currency == "":
		v.Add("currency", "currency.required", "a rate needs a currency")
	case known && p.HourlyRateMinor > limit:
		v.Add("hourly_rate_minor", "hourly_rate_minor.max", "at most %d minor units of %s per hour", limit, p.Currency)
	case p.HourlyRateMinor > MaxHourlyRateMinor:
		v.Add("hourly_rate_minor", "hourly_rate_minor.max", "at most %d minor units per hour", int64(MaxHourlyRateMinor))
	}
}

func (p *Profile) validateAvailability(v *tutorhub.Violations) {
	if len(p.Availability) > MaxSlots {
		v.Add("availability", "availability.max_items", "at most %d slots", MaxSlots)
	}
	for i, s := range p.Availability {
		field := fmt.Sprintf("availability[%d]", i)
		switch {
		case s.Day < 1 || s.Day > 7:
			v.Add(field+".day_of_week", "availability.day_of_week", "day_of_week is required")
		case s.Start < 0 || s.Start >= minutesPerDay:
			v.Add(field+".start_minute", "availability.start_minute", "start_minute must be between 0 and 1439")
		case s.End <= s.Start || s.End > minutesPerDay:
			v.Add(field+".end_minute", "availability.end_minute", "end_minute must be after start_minute and at most 1440")
		default:
			for j, o := range p.Availability[:i] {
				if o.Day == s.Day && o.Start < s.End && s.Start < o.End && o.End > o.Start {
					v.Add(field+".start_minute", "availability.overlap", "overlaps availability[%d]", j)
					break
				}
			}
		}
	}
}

// MissingForPublish names every field a profile must fill before it can be published, in
// ProfileFields order.
func (p *Profile) MissingForPublish() []string {
	var missing []string
	for _, f := range []struct {
		name  string
		empty bool
	}{
		{"headline", strings.TrimSpace(p.Headline) == ""},
		{"bio", strings.TrimSpace(p.Bio) == ""},
		{"subjects", len(p.Subjects) == 0},
		{"hourly_rate_minor", p.HourlyRateMinor <= 0},
		{"currency", p.Currency == ""},
		{"languages", len(p.Languages) == 0},
		{"lesson_modes", len(p.LessonModes) == 0},
		{"time_zone", p.TimeZone == ""},
		{"availability", len(p.Availability) == 0},
	} {
		if f.empty {
			missing = append(missing, f.name)
		}
	}
	return missing
}

// ApplyMask copies the fields named by paths (ProfileFields) from src, with the one
// field-mask rule of every update (tutorhub.ApplyMask).
func (p *Profile) ApplyMask(src *Profile, paths []string) error {
	return tutorhub.ApplyMask(paths, map[string]func(){
		"headline":          func() { p.Headline = src.Headline },
		"bio":               func() { p.Bio = src.Bio },
		"subjects":          func() { p.Subjects = src.Subjects },
		"hourly_rate_minor": func() { p.HourlyRateMinor = src.HourlyRateMinor },
		"currency":          func() { p.Currency = src.Currency },
		"languages":         func() { p.Languages = src.Languages },
		"lesson_modes":      func() { p.LessonModes = src.LessonModes },
		"time_zone":         func() { p.TimeZone = src.TimeZone },
		"availability":      func() { p.Availability = src.Availability },
	})
}

// incompleteProfile is the EPRECONDITION error naming every missing field, in the message
// and as violations on profile.<field>.
func incompleteProfile(reason string, missing []string) error {
	e := tutorhub.Errorf(tutorhub.EPRECONDITION, "%s: missing %s", reason, strings.Join(missing, ", "))
	for _, f := range missing {
		e.Violations = append(e.Violations, tutorhub.Violation{Field: "profile." + f, Rule: "publish.required", Message: f + " is required to publish"})
	}
	return e
}
