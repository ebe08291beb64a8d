package accounts

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub"
)

func TestApplyProfileUpdate(t *testing.T) {
	t.Parallel()
	base := User{DisplayName: "Ada", Bio: "Maths", TimeZone: "UTC", Locale: "en"}
	for _, tc := range []struct {
		name   string
		in     ProfileUpdate
		paths  []string
		fields []string // violations expected
		want   User
	}{
		{"only named fields change", ProfileUpdate{DisplayName: "  Grace  ", Bio: "ignored"}, []string{"display_name"}, nil,
			User{DisplayName: "Grace", Bio: "Maths", TimeZone: "UTC", Locale: "en"}},
		{"the locale is stored canonically", ProfileUpdate{Locale: "pt-br", TimeZone: "Europe/Paris"}, []string{"locale", "timezone"}, nil,
			User{DisplayName: "Ada", Bio: "Maths", TimeZone: "Europe/Paris", Locale: "pt-BR"}},
		{"an empty mask", ProfileUpdate{}, nil, []string{"update_mask"}, base},
		{"a read-only path", ProfileUpdate{}, []string{"roles"}, []string{"update_mask"}, base},
		{"a repeated path, as for tutor profiles", ProfileUpdate{Bio: "x"}, []string{"bio", "bio"}, []string{"update_mask"}, base},
		{"a display name is one line of plain text", ProfileUpdate{DisplayName: "Ada\u202eecarG"}, []string{"display_name"}, []string{"profile.display_name"}, base},
		{"a display name has at most 100 characters", ProfileUpdate{DisplayName: strings.Repeat("é", 101)}, []string{"display_name"}, []string{"profile.display_name"}, base},
		{"a bio may span lines", ProfileUpdate{Bio: "line\nline"}, []string{"bio"}, nil, User{DisplayName: "Ada", Bio: "line\nline", TimeZone: "UTC", Locale: "en"}},
		{"a bio has no control characters", ProfileUpdate{Bio: "a\x07b"}, []string{"bio"}, []string{"profile.bio"}, base},
		{"the zone is IANA", ProfileUpdate{TimeZone: "Mars/Olympus"}, []string{"timezone"}, []string{"profile.timezone"}, base},
		{"the zone is not empty", ProfileUpdate{}, []string{"timezone"}, []string{"profile.timezone"}, base},
		{"the locale is BCP 47", ProfileUpdate{Locale: "english please"}, []string{"locale"}, []string{"profile.locale"}, base},
		{"every problem at once", ProfileUpdate{Locale: "x y", TimeZone: "Nowhere"}, []string{"locale", "timezone"}, []string{"profile.locale", "profile.timezone"}, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := base
			err := ApplyProfileUpdate(&u, tc.in, tc.paths)
			var got []string
			var e *tutorhub.Error
			if errors.As(err, &e) {
				for _, v := range e.Violations {
					got = append(got, v.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("violations on %v, want %v", got, tc.fields)
			}
			if u.DisplayName != tc.want.DisplayName || u.Bio != tc.want.Bio || u.TimeZone != tc.want.TimeZone || u.Locale != tc.want.Locale {
				t.Fatalf("user %+v, want %+v", u, tc.want)
			}
		})
	}
}

func TestValidateDisplayName(t *testing.T) {
	t.Parallel()
	if err := ValidateDisplayName("display_name", "Ada Lovelace"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"a\nb", "evil\u202e", strings.Repeat("x", 101)} {
		if err := ValidateDisplayName("display_name", bad); tutorhub.ErrorCode(err) != tutorhub.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
