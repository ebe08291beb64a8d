package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PrivateStripe is a stripe-mock of one test, on a port of its own, that the test may stop
// and start (the payment provider failing for a while).
type PrivateStripe struct {
	t   testing.TB
	URL string
	cmd *exec.Cmd
}

// NewPrivateStripe starts a private stripe-mock (the pinned build in .bin, which
// deploy/tools.sh stripemock links) and stops it when the test ends.
func NewPrivateStripe(t testing.TB) *PrivateStripe {
	t.Helper()
	Stripe(t) // the shared one's start links the binary
	bin := filepath.Join(RepoRoot(t), ".bin", "stripemock")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &PrivateStripe{t: t, URL: "http://" + addr, cmd: exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:")}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start runs stripe-mock (again) and waits until it answers.
func (p *PrivateStripe) Start() {
	p.t.Helper()
	if p.cmd.Process != nil {
		p.cmd = exec.Command(p.cmd.Path, p.cmd.Args[1:]...)
	}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start stripe-mock: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := stripeReady(ctx, p.URL)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal(fmt.Sprintf("private stripe-mock did not answer within 30s: %v", err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills stripe-mock and waits for it to exit.
func (p *PrivateStripe) Stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
