package accounts

import (
	"testing"
	"time"
)

func TestLockoutPolicy(t *testing.T) {
	p := LockoutPolicy{Threshold: 3, Window: 15 * time.Minute, Base: time.Minute, Max: 5 * time.Minute, CaptchaAfter: 2}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := lockState{WindowStart: t0}

	// Three counted attempts; the third needs a captcha; a fourth waits for their outcome.
	for i := 0; i < 3; i++ {
		var v SignInVerdict
		s, v = p.claim(s, t0)
		if !v.Allowed || v.CaptchaRequired != (i >= 2) {
			t.Fatalf("attempt %d: %+v", i+1, v)
		}
	}
	if _, v := p.claim(s, t0); v.Allowed {
		t.Fatal("a fourth concurrent attempt was allowed")
	}
	// Failures below the threshold lock nothing; the one that reaches it does.
	s, locked := p.failed(s, t0)
	if !locked || !s.LockedUntil.Equal(t0.Add(time.Minute)) || s.LockCount != 1 {
		t.Fatalf("after threshold: %+v locked=%v", s, locked)
	}
	if _, v := p.claim(s, t0.Add(30*time.Second)); v.Allowed || v.RetryAfter != 30*time.Second {
		t.Fatalf("during the lock: %+v", v)
	}
	// The next lock lasts twice as long, then twice again, capped at Max.
	for i, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		now := s.LockedUntil
		for j := 0; j < 3; j++ {
			var v SignInVerdict
			if s, v = p.claim(s, now); !v.Allowed {
				t.Fatalf("lock %d attempt %d refused after the lock ended", i+2, j+1)
			}
		}
		if s, locked = p.failed(s, now); !locked || s.LockedUntil.Sub(now) != want {
			t.Fatalf("lock %d lasts %v, want %v", i+2, s.LockedUntil.Sub(now), want)
		}
	}
	// A long quiet spell after the last lock starts over from Base.
	later := s.LockedUntil.Add(p.Max + time.Minute)
	for j := 0; j < 3; j++ {
		s, _ = p.claim(s, later)
	}
	if s, _ = p.failed(s, later); s.LockedUntil.Sub(later) != time.Minute {
		t.Fatalf("after a quiet spell the lock lasts %v", s.LockedUntil.Sub(later))
	}
	// Failures older than the window are forgotten.
	fresh := lockState{WindowStart: t0, Failures: 2}
	if _, v := p.claim(fresh, t0.Add(16*time.Minute)); !v.Allowed || v.CaptchaRequired {
		t.Fatalf("old failures still count: %+v", v)
	}
}
