package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestSendReachesTheRelay(t *testing.T) {
	t.Parallel()
	s, err := mail.New(testenv.SMTPURL(), "tutorhub <no-reply@tutorhub.local>")
	if err != nil {
		t.Fatal(err)
	}
	to := testenv.UniqueEmail("mail")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := "First line.\n.\nA line that is a lone dot above, and non-ASCII: Grüße.\n"
	if err := s.Send(ctx, to, "Hello from tutorhub — test", body); err != nil {
		t.Fatal(err)
	}
	text, _ := testenv.NewMail(t, to, "Hello from tutorhub — test", nil)
	if !strings.Contains(text, "First line.") || !strings.Contains(text, "\n.\r\n") || !strings.Contains(text, "Grüße") {
		t.Fatalf("mail text = %q", text)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct{ url, from string }{
		{"http://127.0.0.1:1025", "a@b.example"},
		{"smtp://", "a@b.example"},
		{"smtp://127.0.0.1:1025", "not an address"},
	} {
		if _, err := mail.New(tc.url, tc.from); err == nil {
			t.Errorf("New(%q, %q) accepted", tc.url, tc.from)
		}
	}
}

func TestSendGivesUpWithTheContext(t *testing.T) {
	t.Parallel()
	// 192.0.2.0/24 is TEST-NET-1: nothing answers there.
	s, err := mail.New("smtp://192.0.2.1:25", "a@b.example")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, "x@y.example", "s", "b")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Send to an unreachable relay: %v after %v", err, time.Since(start))
	}
	if errors.Is(err, context.Canceled) {
		t.Fatalf("unexpected cancel: %v", err)
	}
}
