package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/tutors"
)

// tutorEnv serves TutorService over HTTP with the API's own interceptors, real PostgreSQL and
// Redis, and callers named by a test header instead of access tokens, so the handler's own
// authorization is tested apart from token verification (tutor_access_test.go covers that).
type tutorEnv struct {
	db    *pgxpool.Pool
	cache *cache.Cache
	url   string
}

const testCallerHeader = "X-Test-Caller"

func newTutorEnv(t testing.TB, rdb redis.UniversalClient, prefix string) *tutorEnv {
	t.Helper()
	db := testenv.Postgres(t)
	if rdb == nil {
		rdb, prefix = testenv.Redis(t)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	c := cache.New(rdb, cache.Options{Prefix: prefix + "cache:", Logger: log})
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	callers := testCallers()
	path, h := tutorhubv1connect.NewTutorServiceHandler(
		NewTutorServer(tutors.New(db, tutors.Options{Cache: c}), pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))),
		connect.WithInterceptors(observe(log), callers, validateRequests(v)))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &tutorEnv{db: db, cache: c, url: srv.URL}
}

// user inserts a users row and returns the caller it signs in as, with a verified email.
func (e *tutorEnv) user(t testing.TB, roles ...string) *Caller {
	t.Helper()
	c := e.unverifiedUser(t, roles...)
	c.EmailVerified = true
	return c
}

// unverifiedUser is user whose email is not verified.
func (e *tutorEnv) unverifiedUser(t testing.TB, roles ...string) *Caller {
	t.Helper()
	id := uuid.New()
	if _, err := e.db.Exec(context.Background(), `INSERT INTO users (id, email, display_name, roles) VALUES ($1, $2, 'Test '||$2, $3)`,
		id, id.String()+"@example.com", append([]string{"student"}, roles...)); err != nil {
		t.Fatal(err)
	}
	return &Caller{UserID: id.String(), Roles: append([]string{"student"}, roles...)}
}

// as makes a call as c; nil is anonymous.
func as(c *Caller) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if c != nil {
				verified := ""
				if c.EmailVerified {
					verified = "verified"
				}
				req.Header().Set(testCallerHeader, c.UserID+";"+strings.Join(c.Roles, ",")+";"+verified)
			}
			return next(ctx, req)
		}
	}))
}

const (
	mathsID   = "d4706666-3b3f-5254-b858-719197bb6436"
	physicsID = "7bd96d26-6c73-5b08-bced-8394c5725226"
)

func fullProfile() *tutorhubv1.TutorProfile {
	return &tutorhubv1.TutorProfile{
		Headline:        "Patient maths tutor",
		Bio:             "Ten years of teaching. <b>Not bold</b>, just text.",
		Subjects:        []*tutorhubv1.TutorSubject{{SubjectId: mathsID, Levels: []tutorhubv1.Level{tutorhubv1.Level_LEVEL_SECONDARY, tutorhubv1.Level_LEVEL_ADULT}}},
		HourlyRateMinor: 4500,
		Currency:        "EUR",
		Languages:       []string{"en-GB", "de"},
		LessonModes:     []tutorhubv1.LessonMode{tutorhubv1.LessonMode_LESSON_MODE_ONLINE},
		TimeZone:        "Europe/Berlin",
		Availability: []*tutorhubv1.AvailabilitySlot{
			{DayOfWeek: tutorhubv1.DayOfWeek_DAY_OF_WEEK_MONDAY, StartMinute: 540, EndMinute: 600},
			{DayOfWeek: tutorhubv1.DayOfWeek_DAY_OF_WEEK_MONDAY, StartMinute: 600, EndMinute: 660},
		},
	}
}

func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

func wantCode(t testing.TB, err error, want connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v", want)
	}
	if got := codeOf(err); got != want {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func violationFields(t testing.TB, err error) []string {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a Connect error: %v", err)
	}
	var out []string
	for _, d := range ce.Details() {
		m, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := m.(*validatepb.Violations); ok {
			for _, x := range v.GetViolations() {
				out = append(out, protovalidate.FieldPathString(x.GetField()))
			}
		}
	}
	return out
}

// as is the TutorService client that calls as c; nil is anonymous.
func (e *tutorEnv) as(c *Caller) tutorhubv1connect.TutorServiceClient {
	return tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, e.url, as(c))
}

// create makes a tutor for owner and, when publish is set, publishes it.
func (e *tutorEnv) create(t testing.TB, owner *Caller, p *tutorhubv1.TutorProfile, publish bool) *tutorhubv1.Tutor {
	t.Helper()
	ctx := context.Background()
	res, err := e.as(owner).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: p})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !publish {
		return res.GetTutor()
	}
	pub, err := e.as(owner).PublishTutorProfile(ctx, &tutorhubv1.PublishTutorProfileRequest{TutorId: res.GetTutor().GetId()})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return pub.GetTutor()
}

// outboxEvents lists the event types recorded for a tutor, oldest first.
func (e *tutorEnv) outboxEvents(t testing.TB, id string) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT event_type FROM outbox WHERE aggregate_type = 'tutor' AND aggregate_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// storedRow is the tutor row as stored (as JSON), for asserting that a refused write changed
// nothing.
func (e *tutorEnv) storedRow(t testing.TB, id string) storedTutor {
	t.Helper()
	var row storedTutor
	if err := e.db.QueryRow(context.Background(), `SELECT version, to_jsonb(t)::text FROM tutors t WHERE id = $1 AND deleted_at IS NULL`, uuid.MustParse(id)).Scan(&row.Version, &row.JSON); err != nil {
		t.Fatal(err)
	}
	return row
}

// storedTutor is a stored row: its version and every column as JSON.
type storedTutor struct {
	Version int64
	JSON    string
}

func rolesOf(t testing.TB, db *pgxpool.Pool, userID string) []string {
	t.Helper()
	var roles []string
	if err := db.QueryRow(context.Background(), `SELECT roles FROM users WHERE id = $1`, userID).Scan(&roles); err != nil {
		t.Fatal(err)
	}
	return roles
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// testCallers puts the caller named by the testCallerHeader ("id;role,role;verified") in the
// request's context, standing in for the authentication interceptor.
func testCallers() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if h := req.Header().Get(testCallerHeader); h != "" {
				id, rest, _ := strings.Cut(h, ";")
				roles, verified, _ := strings.Cut(rest, ";")
				ctx = WithCaller(ctx, &Caller{UserID: id, Roles: strings.Split(roles, ","), EmailVerified: verified == "verified"})
			}
			return next(ctx, req)
		}
	}
}
