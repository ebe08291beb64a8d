package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/clamd"
)

// PrivateClamd is a clamd of one test, on a port of its own, that the test may stop and start
// (fault tests); it reads the signature database deploy/local/up.sh built for the shared one.
type PrivateClamd struct {
	t       testing.TB
	Address string
	config  string
	cmd     *exec.Cmd
}

// NewPrivateClamd starts a private clamd and stops it when the test ends.
func NewPrivateClamd(t testing.TB) *PrivateClamd {
	t.Helper()
	Clamd(t) // the shared one's start builds the database
	db := filepath.Join(RepoRoot(t), ".data", "clamd", "db")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("clamd database missing (deploy/local/up.sh clamd builds it): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	clamdBin, err := exec.LookPath("clamd")
	if err != nil {
		clamdBin = "/usr/sbin/clamd"
	}
	dir := t.TempDir()
	p := &PrivateClamd{t: t, Address: fmt.Sprintf("127.0.0.1:%d", port), config: filepath.Join(dir, "clamd.conf")}
	conf := fmt.Sprintf("Foreground yes\nTCPSocket %d\nTCPAddr 127.0.0.1\nDatabaseDirectory %s\nStreamMaxLength 64M\nMaxFileSize 64M\nMaxScanSize 128M\nSelfCheck 0\nLogFile %s\n",
		port, db, filepath.Join(dir, "clamd.log"))
	if err := os.WriteFile(p.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(clamdBin, "--config-file", p.config)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start runs clamd (again) and waits until it answers PING.
func (p *PrivateClamd) Start() {
	p.t.Helper()
	if p.cmd.Process != nil {
		p.cmd = exec.Command(p.cmd.Path, p.cmd.Args[1:]...)
	}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start clamd: %v", err)
	}
	c := &clamd.Client{Address: p.Address, Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for c.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			p.t.Fatal("private clamd did not answer within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills clamd and waits for it to exit.
func (p *PrivateClamd) Stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
