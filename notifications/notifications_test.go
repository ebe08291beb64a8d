package notifications

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/tutors"
)

func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnsubscribeTokens(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	other, _ := NewSigner([]byte(strings.Repeat("o", 32)))
	user := uuid.New()
	good := s.Sign(user, CategoryTutors)
	if id, c, err := s.Verify(good); err != nil || id != user || c != CategoryTutors {
		t.Fatalf("Verify(Sign) = %v %v %v", id, c, err)
	}
	flip := []byte(good)
	flip[len(flip)-3] ^= 1
	for _, tc := range []struct{ name, token string }{
		{"another category under the same signature", strings.Replace(good, ".tutors.", ".uploads.", 1)},
		{"another user under the same signature", uuid.NewString() + good[36:]},
		{"a changed signature", string(flip)},
		{"no signature", user.String() + ".tutors"},
		{"signed with another key", other.Sign(user, CategoryTutors)},
		{"the security category, even when signed", s.Sign(user, CategorySecurity)},
		{"an unknown category, even when signed", s.Sign(user, Category("billing"))},
		{"empty", ""},
		{"too long", good + strings.Repeat("A", MaxTokenLen)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := s.Verify(tc.token); !errors.Is(err, ErrBadToken) {
				t.Fatalf("Verify(%q) = %v, want ErrBadToken", tc.token, err)
			}
		})
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}

func FuzzVerifyUnsubscribeToken(f *testing.F) {
	s := testSigner(f)
	f.Add(s.Sign(uuid.New(), CategoryUploads))
	f.Add("..")
	f.Add(uuid.NewString() + ".tutors.AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		id, c, err := s.Verify(token)
		if err != nil {
			return
		}
		// Whatever verifies names a known, non-security category and signs back to itself.
		if !KnownCategory(string(c)) || c == CategorySecurity || s.Sign(id, c) != token {
			t.Fatalf("Verify(%q) accepted %v %v", token, id, c)
		}
	})
}

func TestRenderUsesLocaleAndTimeZone(t *testing.T) {
	t.Parallel()
	n := Notice{Kind: "password_changed", OccurredAt: time.Date(2026, 12, 1, 13, 5, 0, 0, time.UTC), Data: map[string]string{"device": "Firefox on network 203.0.113.0/24"}}
	for _, tc := range []struct{ name, locale, tz, wantLocale, wantTitle, wantTime string }{
		{"English in Berlin", "en", "Europe/Berlin", "en", "Your password was changed", "2026-12-01 14:05 CET"},
		{"German from a regional tag", "de-AT", "America/New_York", "de", "Ihr Passwort wurde geändert", "2026-12-01 08:05 EST"},
		{"an unsupported locale falls back to English", "fr", "UTC", "en", "Your password was changed", "2026-12-01 13:05 UTC"},
		{"a bad time zone falls back to UTC", "en", "Mars/Olympus", "en", "Your password was changed", "2026-12-01 13:05 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(n, tc.locale, tc.tz)
			if err != nil {
				t.Fatal(err)
			}
			if r.Locale != tc.wantLocale || r.Title != tc.wantTitle || !strings.Contains(r.Body, tc.wantTime) || !strings.Contains(r.Body, "203.0.113.0/24") {
				t.Fatalf("Render = %+v; want locale %s, title %q, time %s", r, tc.wantLocale, tc.wantTitle, tc.wantTime)
			}
		})
	}
}

func TestEveryKindHasMessagesInEveryLocale(t *testing.T) {
	t.Parallel()
	for kind := range messages["en"] {
		for _, loc := range Locales {
			if _, ok := messages[loc][kind]; !ok {
				t.Errorf("kind %s has no %s messages", kind, loc)
			}
		}
		if _, err := Render(Notice{Kind: kind, Data: map[string]string{}}, "en", "UTC"); err != nil {
			t.Errorf("kind %s: %v", kind, err)
		}
	}
}

func TestMailLayoutEscapesAndLinksUnsubscribe(t *testing.T) {
	t.Parallel()
	r := Rendered{Locale: "en", Title: "Your upload was checked", Body: "Your <script>x</script> upload was checked"}
	text, html, err := renderMail(r, "Ada", false, "https://tutorhub.example/notifications/unsubscribe?token=a.b.c")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") {
		t.Errorf("HTML body not escaped: %s", html)
	}
	if !strings.Contains(text, "https://tutorhub.example/notifications/unsubscribe?token=a.b.c") || !strings.Contains(html, "unsubscribe?token=a.b.c") {
		t.Errorf("no unsubscribe link:\n%s\n%s", text, html)
	}
	text, html, _ = renderMail(r, "Ada", true, "")
	if strings.Contains(text, "unsubscribe") || strings.Contains(html, "unsubscribe") || !strings.Contains(text, "cannot be turned off") {
		t.Errorf("a security mail offers to unsubscribe:\n%s", text)
	}
}

func TestValidatePreferenceUpdates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		updates []PreferenceUpdate
		want    []string // violated fields
	}{
		{"known categories and channels", []PreferenceUpdate{{"tutors", "email", false}, {"uploads", "inbox", true}, {"security", "email", true}}, nil},
		{"an unknown category", []PreferenceUpdate{{"tutors", "email", false}, {"bookingz", "email", false}}, []string{"preferences[1].category"}},
		{"an unknown channel", []PreferenceUpdate{{"tutors", "sms", false}}, []string{"preferences[0].channel"}},
		{"security cannot be turned off", []PreferenceUpdate{{"security", "inbox", false}}, []string{"preferences[0].enabled"}},
		{"case matters", []PreferenceUpdate{{"Tutors", "Email", false}}, []string{"preferences[0].category", "preferences[0].channel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePreferenceUpdates(tc.updates)
			var got []string
			var e *tutorhub.Error
			if errors.As(err, &e) {
				for _, v := range e.Violations {
					got = append(got, v.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("violations on %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecodeTheFanoutTable(t *testing.T) {
	t.Parallel()
	user, tutor := uuid.New(), uuid.New()
	sec, _ := json.Marshal(accounts.SecurityEventPayload{Schema: 1, UserID: user, OccurredAt: time.Now(), Device: "curl on network 127.0.0.0/24"})
	pub, _ := json.Marshal(tutors.EventPayload{Schema: 1, TutorID: tutor, UserID: user, Version: 3, Published: true})
	up := []byte(`{"schema":1,"upload_id":"` + uuid.NewString() + `","owner_id":"` + user.String() + `","purpose":"credential","status":"clean"}`)
	for _, tc := range []struct {
		name     string
		ev       Event
		category Category
		ok       bool
	}{
		{"password changed tells the user", Event{Type: accounts.EventPasswordChanged, AggregateID: user, Payload: sec}, CategorySecurity, true},
		{"a security event about someone else is refused", Event{Type: accounts.EventPasswordChanged, AggregateID: uuid.New(), Payload: sec}, "", false},
		{"tutor published tells the owner", Event{Type: tutors.EventPublished, AggregateID: tutor, Payload: pub}, CategoryTutors, true},
		{"upload scanned tells the owner", Event{Type: EventUploadScanned, AggregateID: uuid.New(), Payload: up}, CategoryUploads, true},
		{"an unknown schema is refused", Event{Type: EventUploadScanned, Payload: []byte(`{"schema":2}`)}, "", false},
		{"malformed JSON is refused", Event{Type: tutors.EventPublished, Payload: []byte(`{`)}, "", false},
		{"a type outside the table notifies nobody", Event{Type: tutors.EventUpdated, Payload: pub}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.ID = uuid.New()
			n, err := Decode(tc.ev)
			if (err == nil) != tc.ok {
				t.Fatalf("Decode = %+v, %v; want ok=%v", n, err, tc.ok)
			}
			if tc.ok && (n.Category != tc.category || len(n.Recipients) != 1 || n.Recipients[0] != user || n.EventID != tc.ev.ID) {
				t.Fatalf("Decode = %+v", n)
			}
		})
	}
}
