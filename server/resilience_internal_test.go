package server

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
)

func TestBoundDeadlines(t *testing.T) {
	const def, maxTimeout = 2 * time.Second, 10 * time.Second
	cases := []struct {
		name   string
		stream connect.StreamType
		client time.Duration // 0: none
		want   time.Duration // 0: no deadline
	}{
		{"a call without a deadline gets the default", connect.StreamTypeUnary, 0, def},
		{"a client's deadline below the cap is kept", connect.StreamTypeUnary, 500 * time.Millisecond, 500 * time.Millisecond},
		{"a client's deadline beyond the cap is capped", connect.StreamTypeUnary, time.Hour, maxTimeout},
		{"a stream keeps its own lifetime", connect.StreamTypeServer, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.client > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.client)
				defer cancel()
			}
			var got time.Duration
			var has bool
			f := boundDeadlines(def, maxTimeout).(aroundCall)
			_ = f(ctx, connect.Spec{StreamType: tc.stream}, nil, func(ctx context.Context) error {
				var dl time.Time
				dl, has = ctx.Deadline()
				got = time.Until(dl)
				return nil
			})
			if tc.want == 0 {
				if has {
					t.Fatalf("deadline set (%s), want none", got)
				}
				return
			}
			if !has || got > tc.want || got < tc.want-time.Second {
				t.Fatalf("deadline in %s (set %v), want %s", got, has, tc.want)
			}
		})
	}
}

func TestProbesAreNeverShed(t *testing.T) {
	for _, p := range []string{"/health", "/ready", "/grpc.health.v1.Health/Check", "/tutorhub.v1.NotificationService/WatchNotifications"} {
		if !neverShed(p) {
			t.Errorf("%s may be shed", p)
		}
	}
	for _, p := range []string{"/tutorhub.v1.UserService/GetUser", "/api/v1/users/x", "/"} {
		if neverShed(p) {
			t.Errorf("%s is never shed", p)
		}
	}
}
