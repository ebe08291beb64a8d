package mail_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/breaker/breakertest"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The SMTP relay (Mailpit) stopped, or answering later than the timeout, behind a private
// Toxiproxy: sends fail within the timeout, the breaker opens, sends then fail at once
// without dialling, and once the fault ends a send closes the breaker and the mail arrives.
func TestBreakerGuardsTheRelay(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		inject func(*testenv.Fault)
	}{
		{"stopped", func(f *testenv.Fault) { f.Stop() }},
		{"slower than the timeout", func(f *testenv.Fault) { f.Latency(3 * time.Second) }},
		{"resetting connections", func(f *testenv.Fault) { f.Reset(0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			smtpURL := testenv.SMTPURL()
			fault := testenv.NewFault(t, hostPort(t, smtpURL))
			b := breaker.New("smtp", breaker.Options{Failures: 3, OpenFor: time.Second, MaxOpenFor: time.Second})
			s, err := mail.New(fault.URL(smtpURL), "tutorhub <no-reply@tutorhub.local>", mail.WithBreaker(b), mail.WithTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			to := testenv.UniqueEmail("breaker")
			ctx := context.Background()
			send := func(subject string) breakertest.Call {
				return func() error { return s.Send(ctx, to, subject, "body") }
			}
			if err := send("before the fault")(); err != nil {
				t.Fatalf("send before the fault: %v", err)
			}

			tc.inject(fault)
			breakertest.Opens(t, b, "send", send("during the fault"), timeout+500*time.Millisecond, 50*time.Millisecond)
			fault.Clear()
			fault.Start()
			seen := testenv.MailIDs(t, to)
			breakertest.Recovers(t, b, "send", send("after the fault"), 10*time.Second)
			testenv.NewMail(t, to, "after the fault", seen)
		})
	}
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
