package activities_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/tutors"
)

var maths = uuid.MustParse("d4706666-3b3f-5254-b858-719197bb6436") // seeded by migration 00001

// fixture is a database with one tutor's owner, the tutors service and the PostgreSQL
// engine over it, and the activities under test.
type fixture struct {
	tutors *tutors.Service
	engine search.Engine
	acts   *activities.SearchActivities
	owner  tutors.Actor
	db     *pgxpool.Pool
}

func newFixture(t *testing.T) (*fixture, func(bio string) tutors.Tutor) {
	t.Helper()
	db := testenv.Postgres(t)
	owner := tutors.Actor{UserID: uuid.New(), EmailVerified: true}
	if _, err := db.Exec(t.Context(), `INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Ada Index')`,
		owner.UserID, testenv.UniqueEmail("index")); err != nil {
		t.Fatal(err)
	}
	f := &fixture{tutors: tutors.New(db, tutors.Options{}), owner: owner, db: db}
	f.engine = search.NewPostgres(db, pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef")))
	f.acts = &activities.SearchActivities{Tutors: f.tutors, Engine: f.engine}
	create := func(bio string) tutors.Tutor {
		t.Helper()
		tu, err := f.tutors.Create(t.Context(), f.owner, tutors.Profile{
			Headline: "Patient maths tutor", Bio: bio,
			Subjects:        []tutors.Subject{{SubjectID: maths, Levels: []string{"primary"}}},
			HourlyRateMinor: 4500, Currency: "EUR", Languages: []string{"en"}, LessonModes: []string{"online"},
			TimeZone: "Europe/Berlin", Availability: []tutors.Slot{{Day: 1, Start: 540, End: 600}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tu
	}
	return f, create
}

// index runs the activity as Temporal would.
func (f *fixture) index(t *testing.T, id uuid.UUID, eventVersion int64) (activities.IndexTutorDocumentResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.RegisterSearch(env, f.acts)
	val, err := env.ExecuteActivity(activities.IndexTutorDocumentName, activities.IndexTutorDocumentInput{TutorID: id, EventVersion: eventVersion})
	if err != nil {
		return activities.IndexTutorDocumentResult{}, err
	}
	var res activities.IndexTutorDocumentResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

// found reports whether a search for word finds tutor id.
func (f *fixture) found(t *testing.T, word string, id uuid.UUID) bool {
	t.Helper()
	res, err := f.engine.Search(t.Context(), search.Query{Text: word})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if h.ID == id {
			return true
		}
	}
	return false
}

func TestIndexTutorDocumentFollowsTheProfile(t *testing.T) {
	t.Parallel()
	f, create := newFixture(t)
	ctx := t.Context()
	tu := create("I teach with quokkas")

	step := func(name string, eventVersion int64, wantAction string, wantVersion int64, visible map[string]bool) {
		t.Helper()
		res, err := f.index(t, tu.ID, eventVersion)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Action != wantAction || res.Version != wantVersion {
			t.Errorf("%s: result %+v, want %s at version %d", name, res, wantAction, wantVersion)
		}
		for word, want := range visible {
			if got := f.found(t, word, tu.ID); got != want {
				t.Errorf("%s: search %q finds the tutor = %v, want %v", name, word, got, want)
			}
		}
	}
	step("an unpublished tutor is not searchable", 1, activities.ActionRemoved, 1, map[string]bool{"quokkas": false})
	if _, err := f.tutors.Publish(ctx, f.owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	step("a published tutor is searchable by a word of the bio", 2, activities.ActionUpserted, 2, map[string]bool{"quokkas": true, "mathematics": true})
	if _, err := f.tutors.Update(ctx, f.owner, tu.ID, 2, tutors.Profile{Bio: "I teach with wombats"}, []string{"bio"}); err != nil {
		t.Fatal(err)
	}
	step("a late event of an older version writes the current profile", 2, activities.ActionUpserted, 3, map[string]bool{"quokkas": false, "wombats": true})
	step("a repeated event changes nothing", 3, activities.ActionUpserted, 3, map[string]bool{"wombats": true})
	if _, err := f.tutors.Unpublish(ctx, f.owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	step("an unpublished tutor disappears", 4, activities.ActionRemoved, 4, map[string]bool{"wombats": false})
	if _, err := f.tutors.Publish(ctx, f.owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	step("a republished tutor comes back", 5, activities.ActionUpserted, 5, map[string]bool{"wombats": true})
	if err := f.tutors.Delete(ctx, f.owner, tu.ID); err != nil {
		t.Fatal(err)
	}
	step("a deleted tutor disappears", 6, activities.ActionRemoved, 6, map[string]bool{"wombats": false})
	step("an event older than the deletion cannot bring it back", 5, activities.ActionRemoved, 6, map[string]bool{"wombats": false})
}

func TestIndexTutorDocumentBadInput(t *testing.T) {
	t.Parallel()
	f, _ := newFixture(t)
	for _, tc := range []struct {
		name       string
		id         uuid.UUID
		wantAction string
		wantType   string
	}{
		{"no tutor id fails without retries", uuid.Nil, "", activities.ErrBadInput},
		{"a tutor that never existed has nothing to index", uuid.New(), activities.ActionGone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.index(t, tc.id, 1)
			if tc.wantType != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != tc.wantType || !appErr.NonRetryable() {
					t.Fatalf("error = %v, want a non-retryable %s", err, tc.wantType)
				}
				return
			}
			if err != nil || res.Action != tc.wantAction {
				t.Fatalf("result %+v, %v; want %s", res, err, tc.wantAction)
			}
		})
	}
}

// TestIndexTutorDocumentWaitsForTheTutorsIndexingLock: while another indexer of the same
// tutor holds the lock, the activity waits, so two processes never interleave a tutor's
// read and write.
func TestIndexTutorDocumentWaitsForTheTutorsIndexingLock(t *testing.T) {
	t.Parallel()
	f, create := newFixture(t)
	tu := create("I teach with lock picks")
	_, release, err := f.tutors.ForIndex(t.Context(), tu.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := f.index(t, tu.ID, 1); done <- err }()

	deadline := time.Now().Add(10 * time.Second)
	for !f.waitingForLock(t) {
		select {
		case err := <-done:
			t.Fatalf("the activity finished (%v) while another indexer held the tutor's lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the activity never waited for the tutor's indexing lock")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}

// waitingForLock reports whether a session of the fixture's database waits for an advisory
// lock.
func (f *fixture) waitingForLock(t *testing.T) bool {
	t.Helper()
	var n int
	err := f.db.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND NOT granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// run executes activity name with in and decodes its result into out.
func (f *fixture) run(t *testing.T, name string, in, out any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.RegisterSearch(env, f.acts)
	val, err := env.ExecuteActivity(name, in)
	if err != nil {
		return err
	}
	if out != nil {
		return val.Get(out)
	}
	return nil
}

// TestReindexBuildsANewIndexWhileWritesContinue: a rebuild walks the published tutors into a
// new index page by page; a change made during the rebuild, after its tutor's page, reaches
// the new index through IndexTutorDocument; the swap makes the new index live.
func TestReindexBuildsANewIndexWhileWritesContinue(t *testing.T) {
	t.Parallel()
	f, create := newFixture(t)
	ctx := t.Context()
	var published []tutors.Tutor
	for i := range 3 {
		owner := tutors.Actor{UserID: uuid.New(), EmailVerified: true}
		if _, err := f.db.Exec(ctx, `INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Rita Rebuild')`,
			owner.UserID, testenv.UniqueEmail("reindex")); err != nil {
			t.Fatal(err)
		}
		f.owner = owner
		tu := create("I teach with capybaras")
		if i < 2 {
			if _, err := f.tutors.Publish(ctx, owner, tu.ID); err != nil {
				t.Fatal(err)
			}
		}
		published = append(published, tu)
	}
	// The live index starts out of date: one stray document of a tutor that does not exist.
	stray := search.Document{ID: uuid.New(), DisplayName: "Stray", Bio: "capybaras", Published: true, Version: 1}
	if err := f.engine.Upsert(ctx, stray); err != nil {
		t.Fatal(err)
	}

	const build = "test_reindex"
	var total int64
	if err := f.run(t, activities.BeginReindexName, activities.ReindexInput{BuildID: build}, &total); err != nil {
		t.Fatal(err)
	}
	if total != 2 {
		t.Errorf("total = %d, want the 2 published tutors", total)
	}
	var page activities.ReindexPageResult
	in := activities.ReindexPageInput{BuildID: build, Limit: 1}
	var indexed int64
	for {
		if err := f.run(t, activities.ReindexPageName, in, &page); err != nil {
			t.Fatal(err)
		}
		indexed += page.Indexed
		if page.Done {
			break
		}
		in.After = page.Last
	}
	if indexed != 2 {
		t.Errorf("pages indexed %d tutors, want 2", indexed)
	}
	// After every page: publish the third tutor, as a write during the rebuild.
	third := published[2]
	if _, err := f.tutors.Publish(ctx, tutors.Actor{UserID: third.UserID}, third.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.index(t, third.ID, 2); err != nil {
		t.Fatal(err)
	}
	if err := f.run(t, activities.SwapReindexName, activities.ReindexInput{BuildID: build}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := f.engine.Search(ctx, search.Query{Text: "capybaras"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]bool{}
	for _, h := range res.Hits {
		got[h.ID] = true
	}
	for _, tu := range published {
		if !got[tu.ID] {
			t.Errorf("tutor %s is missing from the swapped-in index", tu.ID)
		}
	}
	if got[stray.ID] || len(got) != 3 {
		t.Errorf("the swapped-in index holds %v, want exactly the 3 published tutors", got)
	}
	if err := f.run(t, activities.SwapReindexName, activities.ReindexInput{BuildID: build}, nil); err != nil {
		t.Errorf("a retried swap: %v", err)
	}
	var appErr *temporal.ApplicationError
	if err := f.run(t, activities.BeginReindexName, activities.ReindexInput{BuildID: "Bad-Id"}, &total); !errors.As(err, &appErr) || appErr.Type() != activities.ErrBadInput {
		t.Errorf("a bad build id: %v, want %s", err, activities.ErrBadInput)
	}
}
