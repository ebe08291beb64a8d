package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/uploads"
)

// TestScanSetsTheAvatarOnCachedPublicReads: the public reads that show an avatar (the tutor
// profile, the public user profile) are cached; a scan that sets a new avatar drops them, so
// the next read shows the new avatar, never the old one (or none).
func TestScanSetsTheAvatarOnCachedPublicReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Postgres(t)
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, cache.Options{Prefix: prefix + "cache:", TTL: time.Hour})
	e := newScanEnvOn(t, db, testenv.Clamd(t), uploads.Options{Cache: c, AvatarChanged: tutors.RecordOwnerChanged})

	profiles := tutors.New(db, tutors.Options{Cache: c, AllowUnverifiedEmail: true})
	users := accounts.New(db, accounts.Options{Cache: c})
	owner := tutors.Actor{UserID: e.ownerID, EmailVerified: true}
	tu, err := profiles.Create(ctx, owner, tutors.Profile{
		Headline: "Patient maths tutor", Bio: "Fractions without tears.",
		HourlyRateMinor: 4500, Currency: "EUR", Languages: []string{"en"}, LessonModes: []string{"online"},
		TimeZone: "Europe/Berlin",
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func() (tutors.Tutor, accounts.PublicProfile) {
		t.Helper()
		got, err := profiles.Get(ctx, &owner, tu.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := users.GetPublicProfile(ctx, e.ownerID)
		if err != nil {
			t.Fatal(err)
		}
		return got, p
	}
	// Cached without an avatar, then with each new one in turn.
	want := uuid.NullUUID{}
	for i := range 3 {
		got, p := read()
		if got.AvatarUploadID != want || p.AvatarUploadID != want {
			t.Fatalf("round %d: tutor shows avatar %v, public profile %v; want %v", i, got.AvatarUploadID, p.AvatarUploadID, want)
		}
		read() // served from the cache now
		if i == 2 {
			break
		}
		u := e.upload(t, uploads.PurposeAvatar, "image/png", pngImage(t, 40+i, 30))
		if u.Status != uploads.StatusClean {
			t.Fatalf("avatar scan: %s (%s)", u.Status, u.Reason)
		}
		want = uuid.NullUUID{UUID: u.ID, Valid: true}
		// The tutor moved to its next version (its search document is rebuilt from the event).
		if got, _ := read(); got.Version <= tu.Version {
			t.Errorf("tutor version %d after the new avatar, want more than %d", got.Version, tu.Version)
		}
	}
	if st := c.Stats(); st.Hits == 0 {
		t.Errorf("cache stats %+v: the reads were never served from the cache, so nothing was tested", st)
	}
}
