package server

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
)

func completeProfile() *tutorProfile {
	return &tutorProfile{
		Headline:        "Patient maths tutor",
		Bio:             "Ten years of teaching.\nAll levels welcome.",
		Subjects:        []tutorSubject{{SubjectID: uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436"), Levels: []string{"primary", "adult"}}},
		HourlyRateMinor: 4500,
		Currency:        "EUR",
		Languages:       []string{"en-gb", "de"},
		LessonModes:     []string{"online"},
		TimeZone:        "Europe/Berlin",
		Availability:    []weeklySlot{{Day: 1, Start: 540, End: 600}, {Day: 1, Start: 600, End: 660}, {Day: 3, Start: 0, End: 1440}},
	}
}

func TestValidateTutorProfile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(p *tutorProfile)
		fields []string // violations expected, by field path
	}{
		{"a complete profile is valid", func(*tutorProfile) {}, nil},
		{"an empty draft is valid", func(p *tutorProfile) { *p = tutorProfile{} }, nil},
		{"HTML is kept as text", func(p *tutorProfile) { p.Bio = "<script>alert(1)</script> & <b>bold</b>" }, nil},
		{"the headline has no line breaks", func(p *tutorProfile) { p.Headline = "a\nb" }, []string{"profile.headline"}},
		{"the bio has no other control characters", func(p *tutorProfile) { p.Bio = "a\x00b" }, []string{"profile.bio"}},
		{"the bio has no bidi overrides", func(p *tutorProfile) { p.Bio = "a\u202eb" }, []string{"profile.bio"}},
		{"the headline has at most 120 characters", func(p *tutorProfile) { p.Headline = strings.Repeat("é", 121) }, []string{"profile.headline"}},
		{"the bio has at most 5000 characters", func(p *tutorProfile) { p.Bio = strings.Repeat("x", 5001) }, []string{"profile.bio"}},
		{"a subject appears once", func(p *tutorProfile) { p.Subjects = append(p.Subjects, p.Subjects[0]) }, []string{"profile.subjects[1].subject_id"}},
		{"a subject needs a level", func(p *tutorProfile) { p.Subjects[0].Levels = nil }, []string{"profile.subjects[0].levels"}},
		{"levels are known", func(p *tutorProfile) { p.Subjects[0].Levels = []string{"primary", "kindergarten"} }, []string{"profile.subjects[0].levels[1]"}},
		{"a negative rate is refused", func(p *tutorProfile) { p.HourlyRateMinor = -1 }, []string{"profile.hourly_rate_minor"}},
		{"an absurd rate is refused", func(p *tutorProfile) { p.HourlyRateMinor = 500_000_00 }, []string{"profile.hourly_rate_minor"}},
		{"the cap follows the currency", func(p *tutorProfile) { p.Currency, p.HourlyRateMinor = "JPY", 700_000 }, nil},
		{"an unknown currency is refused", func(p *tutorProfile) { p.Currency = "XYZ" }, []string{"profile.currency"}},
		{"a rate needs a currency", func(p *tutorProfile) { p.Currency = "" }, []string{"profile.currency"}},
		{"languages are BCP 47", func(p *tutorProfile) { p.Languages = []string{"en", "not a tag"} }, []string{"profile.languages[1]"}},
		{"languages appear once", func(p *tutorProfile) { p.Languages = []string{"en-GB", "en-gb"} }, []string{"profile.languages[1]"}},
		{"lesson modes are known", func(p *tutorProfile) { p.LessonModes = []string{"telepathy"} }, []string{"profile.lesson_modes[0]"}},
		{"the time zone is IANA", func(p *tutorProfile) { p.TimeZone = "Mars/Olympus" }, []string{"profile.time_zone"}},
		{"the time zone is not Local", func(p *tutorProfile) { p.TimeZone = "Local" }, []string{"profile.time_zone"}},
		{"a slot is not inverted", func(p *tutorProfile) { p.Availability[2] = weeklySlot{Day: 3, Start: 600, End: 540} }, []string{"profile.availability[2].end_minute"}},
		{"a slot is not empty", func(p *tutorProfile) { p.Availability[2] = weeklySlot{Day: 3, Start: 600, End: 600} }, []string{"profile.availability[2].end_minute"}},
		{"a slot ends by midnight", func(p *tutorProfile) { p.Availability[2].End = 1441 }, []string{"profile.availability[2].end_minute"}},
		{"slots of a day do not overlap", func(p *tutorProfile) { p.Availability[1].Start = 599 }, []string{"profile.availability[1].start_minute"}},
		{"a slot has a day", func(p *tutorProfile) { p.Availability[0].Day = 8 }, []string{"profile.availability[0].day_of_week"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := completeProfile()
			tc.change(p)
			var got []string
			for _, v := range validateTutorProfile(p, "profile.").list {
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
	if v := validateTutorProfile(p, ""); len(v.list) > 0 {
		t.Fatal(v.list)
	}
	if !slices.Equal(p.Languages, []string{"en-GB", "pt-BR"}) {
		t.Fatalf("languages = %v", p.Languages)
	}
}

func TestMissingForPublishNamesEveryField(t *testing.T) {
	t.Parallel()
	if m := missingForPublish(completeProfile()); len(m) != 0 {
		t.Fatalf("complete profile misses %v", m)
	}
	if m := missingForPublish(&tutorProfile{}); !slices.Equal(m, tutorProfileFields) {
		t.Fatalf("empty profile misses %v, want %v", m, tutorProfileFields)
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	dst, src := completeProfile(), &tutorProfile{Headline: "New", Bio: "ignored"}
	if err := applyMask(dst, src, []string{"headline"}); err != nil {
		t.Fatal(err)
	}
	if dst.Headline != "New" || dst.Bio != completeProfile().Bio {
		t.Fatalf("mask applied wrongly: %+v", dst)
	}
	for _, paths := range [][]string{nil, {"version"}, {"bio", "bio"}, {"profile.bio"}} {
		if err := applyMask(completeProfile(), src, paths); err == nil {
			t.Errorf("mask %v accepted", paths)
		}
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
		p, err := profileFromRow(&row.Tutor)
		if err != nil {
			t.Fatal(err)
		}
		if v := validateTutorProfile(p, "profile."); len(v.list) > 0 {
			t.Fatalf("seeded tutor %s is invalid: %v", id, v.list)
		}
		if row.Tutor.Published && len(missingForPublish(p)) > 0 {
			t.Fatalf("seeded tutor %s is published but misses %v", id, missingForPublish(p))
		}
	}
}
