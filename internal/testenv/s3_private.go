package testenv

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/objectstore"
)

// PrivateS3 starts a Versity S3 Gateway of the test's own (the pinned binary, installed by
// deploy/tools.sh when missing) on a free port with a fresh data folder, and returns its
// configuration with the quarantine and clean buckets created, and a Store on it. With
// webhookURL set, the gateway sends its bucket notifications there. It stops when the test
// ends.
func PrivateS3(t testing.TB, webhookURL string) (config.Storage, *objectstore.Store) {
	t.Helper()
	root := RepoRoot(t)
	bin := filepath.Join(root, ".bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		install := exec.Command(filepath.Join(root, "deploy", "tools.sh"), "versitygw")
		install.Dir = root
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("deploy/tools.sh versitygw: %v\n%s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.Storage{
		Endpoint: "http://" + addr, Region: "us-east-1", PathStyle: true,
		AccessKeyID: "private-" + RandomID(), SecretAccessKey: "private-secret-" + RandomID(),
		QuarantineBucket: "private-quarantine", CleanBucket: "private-clean",
	}
	args := []string{"--port", addr, "--access", cfg.AccessKeyID, "--secret", cfg.SecretAccessKey}
	if webhookURL != "" {
		args = append(args, "--event-webhook-url", webhookURL)
	}
	args = append(args, "posix", filepath.Join(dir, "data"))
	log, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(cfg.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "versitygw.log"))
			t.Fatalf("private versitygw did not answer within 30s: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The data folder goes with the test; the buckets need no removal.
	store := storeWithBuckets(t, cfg, false)
	return cfg, store
}
