package mail_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
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
			send := func(subject string) (time.Duration, error) {
				start := time.Now()
				err := s.Send(ctx, to, subject, "body")
				return time.Since(start), err
			}
			if _, err := send("before the fault"); err != nil {
				t.Fatalf("send before the fault: %v", err)
			}

			tc.inject(fault)
			for i := 0; b.State() != breaker.Open; i++ {
				if i == 5 {
					t.Fatalf("the breaker is %s after %d failed sends", b.State(), i)
				}
				took, err := send("during the fault")
				if err == nil {
					t.Fatalf("send %d during the fault succeeded", i)
				}
				if took > timeout+500*time.Millisecond {
					t.Fatalf("send %d during the fault took %s, want within the timeout %s", i, took, timeout)
				}
			}
			for i := range 5 {
				took, err := send("while open")
				if !errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("send %d with the breaker open: %v, want a refusal", i, err)
				}
				if took > 50*time.Millisecond {
					t.Fatalf("send %d with the breaker open took %s: it dialled", i, took)
				}
			}

			fault.Clear()
			fault.Start()
			seen := testenv.MailIDs(t, to)
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := send("after the fault")
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no send succeeded within 10s after the fault: %v (breaker %s)", err, b.State())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if st := b.State(); st != breaker.Closed {
				t.Fatalf("breaker %s after a successful send, want closed", st)
			}
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
