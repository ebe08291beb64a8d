package resiliencetest_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/tutors"
)

// Concurrent writes (CreateTutorProfile, one per user) while PostgreSQL is slowed beyond
// the deadline, resets connections, or is stopped and restarted: every answer is a success or
// DeadlineExceeded, Unavailable or ResourceExhausted, within the deadline. Afterwards each
// write is asked again: a user has at most one profile, so AlreadyExists tells a write that
// went through behind an ambiguous failure from one that did not. PostgreSQL then holds
// exactly one profile and one created event per user, as many as the successful writes:
// none lost (every success is found again), none duplicated.
func TestWritesUnderPostgresFaults(t *testing.T) {
	const (
		writers = 12
		// deadline is the API's default; each writer sends a deadline of its own.
		deadline = 800 * time.Millisecond
	)
	for _, tc := range []struct {
		name   string
		inject func(*testenv.Fault)
	}{
		{"slowed beyond the deadline", func(f *testenv.Fault) { f.Latency(3 * time.Second) }},
		// Each round trip slower: with the writers' deadlines spread, some writes finish,
		// some are cut off early, and some near their commit.
		{"slowed to about the deadline", func(f *testenv.Fault) { f.Latency(40 * time.Millisecond) }},
		{"resetting connections", func(f *testenv.Fault) { f.Reset(100 * time.Millisecond) }},
		{"stopped", func(f *testenv.Fault) { f.Stop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fault := testenv.PostgresFault(t)
			a := newAPI(t, setup{pg: fault, noCache: true, requestTimeout: deadline, acquireTimeout: deadline / 2})
			ctx := context.Background()
			users := make([]string, writers)
			clients := make([]tutorhubv1connect.TutorServiceClient, writers)
			for i := range users {
				users[i] = a.newUser(t, "Writer")
				clients[i] = tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, a.URL, bearer(a.token(t, users[i])))
			}
			create := func(i int, d time.Duration) (time.Duration, error) {
				rctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				start := time.Now()
				_, err := clients[i].CreateTutorProfile(rctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "Maths tutor"}})
				return time.Since(start), err
			}

			tc.inject(fault)
			during := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					// Deadlines from 150ms to about 1.5s, so a slowed PostgreSQL cuts writes off
					// at every step of their transaction.
					d := 150*time.Millisecond + time.Duration(i)*120*time.Millisecond
					took, err := create(i, d)
					during[i] = err
					if code := connect.CodeOf(err); err != nil && code != connect.CodeDeadlineExceeded && code != connect.CodeUnavailable && code != connect.CodeResourceExhausted {
						t.Errorf("write %d during the fault: %v, want success, DeadlineExceeded, Unavailable or ResourceExhausted", i, err)
					}
					if took > d+time.Second {
						t.Errorf("write %d during the fault answered after %s, beyond its deadline %s", i, took, d)
					}
				})
			}
			wg.Wait()
			fault.Clear()
			fault.Start()

			mix := map[string]int{}
			for _, err := range during {
				if err == nil {
					mix["ok"]++
				} else {
					mix[connect.CodeOf(err).String()]++
				}
			}
			// Each write again, until it answers: created now, or already there.
			succeeded := 0
			for i := range writers {
				if during[i] == nil {
					succeeded++
				}
				var again error
				eventually(t, 15*time.Second, "the write is answered after the fault", func() bool {
					_, again = create(i, 2*time.Second)
					return again == nil || connect.CodeOf(again) == connect.CodeAlreadyExists
				}, nil)
				switch {
				case during[i] == nil && again == nil:
					t.Errorf("write %d succeeded during the fault, yet its profile was not there after it (lost)", i)
				case again == nil:
					succeeded++
				}
				if during[i] != nil && again != nil {
					mix["ambiguous, found written"]++
				}
			}
			t.Logf("answers during the fault: %v", mix)

			var rows, distinct, created int
			if err := a.DB.QueryRow(ctx, `SELECT count(*), count(DISTINCT user_id) FROM tutors WHERE user_id = ANY($1::uuid[])`, users).Scan(&rows, &distinct); err != nil {
				t.Fatal(err)
			}
			if err := a.DB.QueryRow(ctx, `SELECT count(*) FROM outbox o JOIN tutors t ON t.id = o.aggregate_id WHERE t.user_id = ANY($1::uuid[]) AND o.event_type = $2`,
				users, tutors.EventCreated).Scan(&created); err != nil {
				t.Fatal(err)
			}
			want := succeeded + mix["ambiguous, found written"]
			if rows != writers || distinct != writers || created != writers || want != writers {
				t.Fatalf("PostgreSQL holds %d profiles of %d users and %d created events; %d writes succeeded and %d were found written: want exactly one of each per user (%d)",
					rows, distinct, created, succeeded, mix["ambiguous, found written"], writers)
			}
		})
	}
}
