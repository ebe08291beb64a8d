package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/serviceaccounts"
)

// BenchmarkAuthenticatedRead is one read (GetTutor of a published tutor, warm cache) through
// the whole API with each kind of credential: "access_token", a user's access token (ES256
// signature, Redis revocation check, roles), and "service_account_key", a service-account
// key (checksum, cached key row, SHA-256 and constant-time compare, per-key budget). Each
// keeps many calls in flight and reports reads/s, p50-ms and p95-ms.
func BenchmarkAuthenticatedRead(b *testing.B) {
	// Budgets far above what the machine can serve, so neither caller is rate limited.
	roomy := ratelimit.Rate{Limit: 1 << 30, Period: time.Minute}
	env := newSearchEnv(b, withRateLimits(server.RateLimits{Enabled: true, Anonymous: roomy, Authenticated: roomy}),
		func(o *server.Options) { o.Logger = discardLogger() })
	api := env.api
	admin := api.admin(b)
	published := env.tutor(b, "Bench Tutor", "Geometry and algebra", true)
	_, _, key := api.serviceAccountKeyWith(b, admin, serviceaccounts.MaxRequestsPerMinute, "tutors:read")
	req := &tutorhubv1.GetTutorRequest{TutorId: published.ID.String()}
	for _, tc := range []struct {
		name  string
		token string
	}{{"access_token", admin.AccessToken}, {"service_account_key", key}} {
		b.Run(tc.name, func(b *testing.B) {
			c := tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(tc.token)))
			benchAuth(b, "reads/s", func(ctx context.Context, _ int) error {
				_, err := c.GetTutor(ctx, req)
				return err
			})
		})
	}
}
