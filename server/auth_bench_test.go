package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/server"
)

// BenchmarkLogin is the Login RPC end to end against the real Kratos: rate limits, lockout
// row, Kratos login flow (one Argon2id hash), user upsert, audit row and the access-token
// mint. Run in parallel it measures throughput; compare with BenchmarkRefresh, the same
// path without the password hash.
func BenchmarkLogin(b *testing.B) {
	api := newBenchAPI(b)
	u := api.signUp(b)
	c := api.authClient()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Login(context.Background(), &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRefresh mints an access token from a session: Kratos whoami with the tokenizer,
// no password hash.
func BenchmarkRefresh(b *testing.B) {
	api := newBenchAPI(b)
	u := api.signUp(b)
	c := api.authClient()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Refresh(context.Background(), &tutorhubv1.RefreshRequest{SessionToken: u.SessionToken}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func newBenchAPI(b *testing.B) *testAPI {
	b.Helper()
	return newTestAPI(b, func(o *server.Options) { o.Logger = discardLogger() })
}

func discardLogger() *slog.Logger { return logging.New(io.Discard, slog.LevelInfo, "json", nil) }
