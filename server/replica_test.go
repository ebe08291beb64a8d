package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/tutors"
)

// newReplicaTutorEnv is tutorEnv without a cache, whose public reads go to a private replica
// through a Router, with the API's read-your-writes interceptor.
func newReplicaTutorEnv(t *testing.T) (*tutorEnv, *testenv.Replica, *database.Router) {
	t.Helper()
	db := testenv.Postgres(t)
	rdb, prefix := testenv.Redis(t)
	rep := testenv.NewPrivateReplica(t)
	dbURL := db.Config().ConnString()
	rep.WaitForDatabase(dbURL)
	replica, err := database.OpenReplica(rep.URL(dbURL), database.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)
	router := database.NewRouter(db, replica, database.RouterOptions{
		MaxLag: time.Hour, CheckInterval: 20 * time.Millisecond, Redis: rdb, KeyPrefix: prefix,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); router.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	callers := testCallers()
	path, h := tutorhubv1connect.NewTutorServiceHandler(
		NewTutorServer(tutors.New(db, tutors.Options{Reads: router}), pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))),
		connect.WithInterceptors(observe(log), callers, readYourWrites(router, log), validateRequests(v)))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &tutorEnv{db: db, url: srv.URL}, rep, router
}

func TestPublicTutorReadsComeFromTheReplicaAndTheOwnerReadsTheirOwnWrites(t *testing.T) {
	e, rep, router := newReplicaTutorEnv(t)
	ctx := context.Background()
	owner := e.user(t)
	tutor := e.create(t, owner, fullProfile(), true)
	anon, mine := e.as(nil), e.as(owner)
	headline := func(c tutorhubv1connect.TutorServiceClient) (get, list string) {
		t.Helper()
		g, err := c.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
		if err != nil {
			t.Fatalf("GetTutor: %v", err)
		}
		l, err := c.ListTutors(ctx, &tutorhubv1.ListTutorsRequest{})
		if err != nil || len(l.GetTutors()) != 1 {
			t.Fatalf("ListTutors: %v, %d tutors", err, len(l.GetTutors()))
		}
		return g.GetTutor().GetProfile().GetHeadline(), l.GetTutors()[0].GetProfile().GetHeadline()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; replica %+v", what, router.State())
			}
		}
	}
	original := tutor.GetProfile().GetHeadline()
	waitFor("the published tutor on the replica", func() bool {
		if !router.State().Usable {
			return false
		}
		g, err := anon.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: tutor.GetId()})
		return err == nil && g.GetTutor().GetProfile().GetHeadline() == original
	})

	rep.PauseReplay()
	p := fullProfile()
	p.Headline = "Edited while the replica is behind"
	if _, err := mine.UpdateTutorProfile(ctx, &tutorhubv1.UpdateTutorProfileRequest{
		TutorId: tutor.GetId(), Version: tutor.GetVersion(), Profile: p, UpdateMask: mask("headline"),
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	waitFor("a check after the update", func() bool { return router.State().CheckedAt.After(now) })

	if get, list := headline(anon); get != original || list != original {
		t.Errorf("anonymous reads = %q, %q; want the replica's %q (public reads come from the replica)", get, list, original)
	}
	if get, list := headline(mine); get != p.Headline || list != p.Headline {
		t.Errorf("the owner's reads = %q, %q; want their own write %q", get, list, p.Headline)
	}

	rep.ResumeReplay()
	waitFor("the replica to serve the update to everyone", func() bool {
		get, list := headline(anon)
		return get == p.Headline && list == p.Headline
	})
	if router.Reads(database.TargetReplica) == 0 || router.Reads(database.TargetPrimary) == 0 {
		t.Errorf("reads: %d on the replica, %d on the primary; want both", router.Reads(database.TargetReplica), router.Reads(database.TargetPrimary))
	}
}
