package tutors

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
)

func completeProfile() *Profile {
	return &Profile{
		Headline:        "Patient maths tutor",
		Bio:             "Ten years of teaching.\nAll levels welcome.",
		Subjects:        []Subject{{SubjectID: uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436"), Levels: []string{"primary", "adult"}}},
		HourlyRateMinor: 4500,
		Currency:        "EUR",
		Languages:       []string{"en-gb", "de"},
		LessonModes:     []string{"online"},
		TimeZone:        "Europe/Berlin",
		Availability:    []Slot{{Day: 1, Start: 540, End: 600}, {Day: 1, Start: 600, End: 660}, {Day: 3, Start: 0, End: 1440}},
	}
}

func TestValidateTutorProfile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(p *Profile)
		fields []string // violations expected, by field path
	}{
		{"a complete profile is valid", func(*Profile) {}, nil},
		{"an empty draft is valid", func(p *Profile) { *p = Profile{} }, nil},
		{"HTML is kept as text", func(p *Profile) { p.Bio = "<script>alert(1)</script> & <b>bold</b>" }, nil},
		{"the headline has no line breaks", func(p *Profile) { p.Headline = "a\nb" }, []string{"profile.headline"}},
		{"the bio has no other control characters", func(p *Profile) { p.Bio = "a\x00b" }, []string{"profile.bio"}},
		{"the bio has no bidi overrides", func(p *Profile) { p.Bio = "a\u202eb" }, []string{"profile.bio"}},
		{"the headline has at most 120 characters", func(p *Profile) { p.Headline = strings.Repeat("é", 121) }, []string{"profile.headline"}},
		{"the bio has at most 5000 characters", func(p *Profile) { p.Bio = strings.Repeat("x", 5001) }, []string{"profile.bio"}},
		{"a subject appears once", func(p *Profile) { p.Subjects = append(p.Subjects, p.Subjects[0]) }, []string{"profile.subjects[1].subject_id"}},
		{"a subject needs a level", func(p *Profile) { p.Subjects[0].Levels = nil }, []string{"profile.subjects[0].levels"}},
		{"levels are known", func(p *Profile) { p.Subjects[0].Levels = []string{"primary", "kindergarten"} }, []string{"profile.subjects[0].levels[1]"}},
		{"a negative rate is refused", func(p *Profile) { p.HourlyRateMinor = -1 }, []string{"profile.hourly_rate_minor"}},
		{"an absurd rate is refused", func(p *Profile) { p.HourlyRateMinor = 500_000_00 }, []string{"profile.hourly_rate_minor"}},
		{"the cap follows the currency", func(p *Profile) { p.Currency, p.HourlyRateMinor = "JPY", 700_000 }, nil},
		{"an unknown currency is refused", func(p *Profile) { p.Currency = "XYZ" }, []string{"profile.currency"}},
		{"a rate needs a currency", func(p *Profile) { p.Currency = "" }, []string{"profile.currency"}},
		{"languages are BCP 47", func(p *Profile) { p.Languages = []string{"en", "not a tag"} }, []string{"profile.languages[1]"}},
		{"languages appear once", func(p *Profile) { p.Languages = []string{"en-GB", "en-gb"} }, []string{"profile.languages[1]"}},
		{"lesson modes are known", func(p *Profile) { p.LessonModes = []string{"telepathy"} }, []string{"profile.lesson_modes[0]"}},
		{"the time zone is IANA", func(p *Profile) { p.TimeZone = "Mars/Olympus" }, []string{"profile.time_zone"}},
		{"the time zone is not Local", func(p *Profile) { p.TimeZone = "Local" }, []string{"profile.time_zone"}},
		{"a slot is not inverted", func(p *Profile) { p.Availability[2] = Slot{Day: 3, Start: 600, End: 540} }, []string{"profile.availability[2].end_minute"}},
		{"a slot is not empty", func(p *Profile) { p.Availability[2] = Slot{Day: 3, Start: 600, End: 600} }, []string{"profile.availability[2].end_minute"}},
		{"a slot ends by midnight", func(p *Profile) { p.Availability[2].End = 1441 }, []string{"profile.availability[2].end_minute"}},
		{"slots of a day do not overlap", func(p *Profile) { p.Availability[1].Start = 599 }, []string{"profile.availability[1].start_minute"}},
		{"a slot has a day", func(p *Profile) { p.Availability[0].Day = 8 }, []string{"profile.availability[0].day_of_week"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := completeProfile()
			tc.change(p)
			var got []string
			for _, v := range p.Validate("profile.").List {
				got = append(got, v.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("violations on %v, want %v", got, tc.fields)
			}
		})
	}
}

func TestValidateTutorProfileCanonicalisesLanguages(t *testing.T) {
	t.Parallel()
	p := completeProfile()
	p.Languages = []string{"EN-gb", "pt-br"}
	if v := p.Validate(""); len(v.List) > 0 {
		t.Fatal(v.List)
	}
	if !slices.Equal(p.Languages, []string{"en-GB", "pt-BR"}) {
		t.Fatalf("languages = %v", p.Languages)
	}
}

func TestMissingForPublishNamesEveryField(t *testing.T) {
	t.Parallel()
	if m := completeProfile().MissingForPublish(); len(m) != 0 {
		t.Fatalf("complete profile misses %v", m)
	}
	if m := (&Profile{}).MissingForPublish(); !slices.Equal(m, ProfileFields) {
		t.Fatalf("empty profile misses %v, want %v", m, ProfileFields)
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	dst, src := completeProfile(), &Profile{Headline: "New", Bio: "ignored"}
	if err := dst.ApplyMask(src, []string{"headline"}); err != nil {
		t.Fatal(err)
	}
	if dst.Headline != "New" || dst.Bio != completeProfile().Bio {
		t.Fatalf("mask applied wrongly: %+v", dst)
	}
	for _, paths := range [][]string{nil, {"version"}, {"bio", "bio"}, {"profile.bio"}} {
		if err := completeProfile().ApplyMask(src, paths); err == nil {
			t.Errorf("mask %v accepted", paths)
		}
	}
}

func TestListFilterRules(t *testing.T) {
	t.Parallel()
	maths := uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436")
	for _, tc := range []struct {
		name   string
		filter ListFilter
		fields []string // violations expected
		facets []string
	}{
		{"no filter", ListFilter{}, nil, []string{}},
		{"a price range in one currency", ListFilter{Currency: "EUR", MinRate: 1000, MaxRate: 2000}, nil, []string{}},
		{"a minimum price needs a currency", ListFilter{MinRate: 1000}, []string{"currency"}, nil},
		{"a maximum price needs a currency", ListFilter{MaxRate: 1000}, []string{"currency"}, nil},
		{"a language is BCP 47", ListFilter{Language: "not a tag"}, []string{"language"}, nil},
		{"facets for subject, level, language and mode", ListFilter{SubjectID: maths, Level: "adult", Language: "EN-gb", LessonMode: "online"},
			nil, []string{"sl:" + maths.String() + ":adult", "l:en-gb", "m:online"}},
		{"a subject without a level", ListFilter{SubjectID: maths}, nil, []string{"s:" + maths.String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.filter.params()
			var got []string
			var te *tutorhub.Error
			if errors.As(err, &te) {
				for _, v := range te.Violations {
					got = append(got, v.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("violations on %v, want %v", got, tc.fields)
			}
			if err == nil && !slices.Equal(p.Facets, tc.facets) {
				t.Fatalf("facets %v, want %v", p.Facets, tc.facets)
			}
		})
	}
}

func TestSeededTutorsPassTheAPIsValidation(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	q := queries.New(db)
	if _, err := q.SeedTutors(ctx, queries.SeedTutorsParams{Seed: 3, First: 1, Count: 500}); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT id FROM tutors`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		row, err := q.GetTutor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tu, err := tutorOf(row.Tutor, row.DisplayName, row.AvatarUploadID)
		if err != nil {
			t.Fatal(err)
		}
		p := &tu.Profile
		if v := p.Validate("profile."); len(v.List) > 0 {
			t.Fatalf("seeded tutor %s is invalid: %v", id, v.List)
		}
		if tu.Published && len(p.MissingForPublish()) > 0 {
			t.Fatalf("seeded tutor %s is published but misses %v", id, p.MissingForPublish())
		}
	}
}
