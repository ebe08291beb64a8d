package faulttest_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/uploads"
	"github.com/tutorhub/tutorhub/workflows"
)

// TestWorkerKilledMidScan: the only worker of the uploads queue is killed (SIGKILL) while a
// scan is in flight (its clamd is down, so the scan activity is being retried); a new worker
// and a clamd that is back finish the same run: the upload ends clean once, with one
// upload.scanned event, and was never downloadable before.
func TestWorkerKilledMidScan(t *testing.T) {
	s := newStack(t)
	cfg, store := testenv.S3(t)
	clamd := testenv.NewPrivateClamd(t)
	clamd.Stop()
	env := s.workerEnv(
		"TUTORHUB_S3_ENDPOINT="+cfg.Endpoint, "TUTORHUB_S3_ACCESS_KEY_ID="+cfg.AccessKeyID,
		"TUTORHUB_S3_SECRET_ACCESS_KEY="+cfg.SecretAccessKey, "TUTORHUB_S3_QUARANTINE_BUCKET="+cfg.QuarantineBucket,
		"TUTORHUB_S3_CLEAN_BUCKET="+cfg.CleanBucket, "TUTORHUB_CLAMD_ADDRESS="+clamd.Address, "TUTORHUB_CLAMD_TIMEOUT=5s")
	first := startWorker(t, "first", env, "--queues", "uploads")

	ctx := context.Background()
	owner := uuid.New()
	if _, err := s.pool.Exec(ctx, "INSERT INTO users (id, email) VALUES ($1, $2)", owner, owner.String()+"@example.com"); err != nil {
		t.Fatal(err)
	}
	svc := uploads.New(s.pool, uploads.Options{Store: store, QuarantineBucket: cfg.QuarantineBucket, CleanBucket: cfg.CleanBucket, PutURLTTL: time.Minute, GetURLTTL: time.Minute})
	a := uploads.Actor{UserID: owner}
	body := []byte("%PDF-1.4\n% scanned across a worker's death\n%%EOF\n")
	c, err := svc.Create(ctx, a, uploads.Request{Purpose: uploads.PurposeCredentialDocument, ContentType: uploads.TypePDF, Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(c.Put.Method, c.Put.URL, bytes.NewReader(body))
	for k, v := range c.Put.Headers {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := svc.Complete(ctx, a, c.Upload.ID); err != nil {
		t.Fatal(err)
	}

	id := workflows.ScanUploadID(c.Upload.ID)
	eventually(t, time.Minute, "the scan is retried while clamd is down", func() bool {
		d, err := s.tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return false
		}
		for _, p := range d.GetPendingActivities() {
			if p.GetActivityType().GetName() == activities.ScanUploadFileName && p.GetAttempt() >= 2 {
				return true
			}
		}
		return false
	})
	first.kill()
	if _, _, err := svc.DownloadURL(ctx, &a, c.Upload.ID); err == nil {
		t.Fatal("a download URL before the scan ended")
	}
	clamd.Start()
	startWorker(t, "second", env, "--queues", "uploads")
	eventually(t, 2*time.Minute, "the upload is clean", func() bool {
		u, err := svc.ForScan(ctx, c.Upload.ID)
		return err == nil && u.Status == uploads.StatusClean
	})
	if n := s.count("SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2", c.Upload.ID, uploads.EventScanned); n != 1 {
		t.Errorf("%d %s events, want 1", n, uploads.EventScanned)
	}
	if n := s.count("SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2 AND processed_at IS NOT NULL", c.Upload.ID, uploads.EventCompleted); n != 1 {
		t.Errorf("%d dispatched %s events, want 1", n, uploads.EventCompleted)
	}
	url, _, err := svc.DownloadURL(ctx, &a, c.Upload.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := http.Get(url)
	if err != nil || got.StatusCode != http.StatusOK {
		t.Fatalf("download: %v %v", got, err)
	}
	got.Body.Close()
}
