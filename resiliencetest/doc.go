// Package resiliencetest proves, against the real services behind a private Toxiproxy
// (internal/testenv.NewFault), what a slow, hanging or stopped dependency and an overload
// cost the API (issue 17's acceptance). It holds only tests; this file is its package
// documentation.
//
// Each test builds the production handler chain (server.New) on a database of its own and
// reaches PostgreSQL, Redis and Kratos through proxies of its own, so its faults touch neither the
// shared services nor other tests:
//
//   - TestRedisFaultsDegradeAtOnce: Redis stopped, slowed beyond its timeout, or hanging:
//     cached reads still answer right, and once the breaker has opened no read waits on
//     Redis; when Redis is back, reads are served from the cache again without a restart.
//   - TestCredentialRPCsFailClosedWhenRedisIsDown: sign-in answers Unavailable with retry
//     information within the client's deadline, and never reaches Kratos.
//   - TestPostgresSlowerThanTheDeadline: callers get DeadlineExceeded at their deadline (or
//     at the configured default when they send none), and the API answers again within
//     seconds once the fault is removed.
//   - TestPostgresStoppedAndRestarted: reads answer Unavailable or DeadlineExceeded within
//     the deadline while PostgreSQL is stopped, and succeed again within seconds after.
//   - TestKratosFaultsFailFastAndRecover: Kratos slowed, hanging, resetting or stopped:
//     sign-in and session checks answer Unavailable with retry information within Kratos's
//     timeout, at once once its breaker is open, and work again within seconds after.
//   - TestWritesUnderPostgresFaults: concurrent writes while PostgreSQL is slowed, resets
//     connections or is stopped answer success or a clear code within the deadline, and
//     PostgreSQL then holds exactly the writes that succeeded (ambiguous failures resolved
//     by asking again: one profile per user), none lost and none twice.
//   - TestPoolExhaustionFailsFast: with every database connection taken, a request is
//     refused at once with ResourceExhausted and retry information rather than waiting.
//   - TestOverloadIsShedAtOnce: beyond the in-flight limit requests are refused at once
//     (ResourceExhausted over Connect and gRPC, 503 over REST, both with Retry-After), while
//     health and readiness still answer; admitted requests complete.
//
// Latency bounds are generous bounds on deadlines and timeouts (a wait that should not
// happen is at least a second here), never performance figures.
package resiliencetest
