package workflows_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/internal/clamd"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/uploads"
	"github.com/tutorhub/tutorhub/workflows"
)

// scanEnv runs ScanUpload end to end: PostgreSQL, the S3 server, clamd and the Temporal dev
// server, with a worker of the test's own task queue.
type scanEnv struct {
	db      *pgxpool.Pool
	store   *objectstore.Store
	svc     *uploads.Service
	opts    uploads.Options
	tc      client.Client
	queue   string
	ownerID uuid.UUID
}

func newScanEnv(t testing.TB) *scanEnv {
	t.Helper()
	return newScanEnvWith(t, testenv.Clamd(t))
}

// newScanEnvWith is newScanEnv with the worker scanning through cl.
func newScanEnvWith(t testing.TB, cl *clamd.Client) *scanEnv {
	t.Helper()
	return newScanEnvOn(t, testenv.Postgres(t), cl, uploads.Options{})
}

// newScanEnvOn is newScanEnvWith over db, the uploads service taking Cache and
// AvatarChanged from extra.
func newScanEnvOn(t testing.TB, db *pgxpool.Pool, cl *clamd.Client, extra uploads.Options) *scanEnv {
	t.Helper()
	cfg, store := testenv.S3(t)
	tc, queue := testenv.Temporal(t)
	o := uploads.Options{Store: store, QuarantineBucket: cfg.QuarantineBucket, CleanBucket: cfg.CleanBucket, PutURLTTL: time.Minute, GetURLTTL: time.Minute,
		Cache: extra.Cache, AvatarChanged: extra.AvatarChanged}
	svc := uploads.New(db, o)
	w := worker.New(tc, queue, worker.Options{})
	workflows.RegisterUploads(w)
	activities.RegisterUploads(w, &activities.UploadActivities{Uploads: svc, Store: store, Clamd: cl, QuarantineBucket: cfg.QuarantineBucket, AbandonAfter: time.Hour})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	owner := uuid.New()
	if _, err := db.Exec(context.Background(), "INSERT INTO users (id, email) VALUES ($1, $2)", owner, owner.String()+"@example.com"); err != nil {
		t.Fatal(err)
	}
	return &scanEnv{db: db, store: store, svc: svc, opts: o, tc: tc, queue: queue, ownerID: owner}
}

// upload creates an upload declared as (purpose, contentType, len(body)), PUTs body through
// the presigned URL, completes it and runs its scan to the end, returning the upload.
func (e *scanEnv) upload(t testing.TB, purpose uploads.Purpose, contentType string, body []byte) uploads.Upload {
	t.Helper()
	return e.scan(t, e.put(t, purpose, contentType, body))
}

// put creates an upload, PUTs body through the presigned URL and completes the upload.
func (e *scanEnv) put(t testing.TB, purpose uploads.Purpose, contentType string, body []byte) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	a := uploads.Actor{UserID: e.ownerID}
	c, err := e.svc.Create(ctx, a, uploads.Request{Purpose: purpose, ContentType: contentType, Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(c.Put.Method, c.Put.URL, bytes.NewReader(body))
	for k, v := range c.Put.Headers {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", resp.Status)
	}
	if _, err := e.svc.Complete(ctx, a, c.Upload.ID); err != nil {
		t.Fatal(err)
	}
	return c.Upload.ID
}

// scan starts ScanUpload for id as the relay does (its readable id, REJECT_DUPLICATE) and
// waits for its result.
func (e *scanEnv) scan(t testing.TB, id uuid.UUID) uploads.Upload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.ScanUploadID(id), TaskQueue: e.queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.ScanUploadName, workflows.ScanUploadInput{UploadID: id})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		run = e.tc.GetWorkflow(ctx, workflows.ScanUploadID(id), "")
	} else if err != nil {
		t.Fatal(err)
	}
	var res workflows.ScanUploadResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("ScanUpload %s: %v", id, err)
	}
	u, err := e.svc.ForScan(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != res.Status {
		t.Errorf("workflow says %s, the record %s", res.Status, u.Status)
	}
	// The replay test's histories are exported from these runs (replay_test.go).
	t.Logf("%s: %s %s", workflows.ScanUploadID(id), u.Purpose, u.Status)
	return u
}

func (e *scanEnv) download(t testing.TB, id uuid.UUID, a *uploads.Actor) ([]byte, error) {
	t.Helper()
	url, _, err := e.svc.DownloadURL(context.Background(), a, id)
	if err != nil {
		return nil, err
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func (e *scanEnv) wantGoneFromQuarantine(t testing.TB, u uploads.Upload) {
	t.Helper()
	if _, err := e.store.Head(context.Background(), e.opts.QuarantineBucket, u.ObjectKey); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("%s upload still in quarantine: %v", u.Status, err)
	}
}

func pngImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: uint8(x), G: 100, B: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestScanUploadEndToEnd(t *testing.T) {
	t.Parallel()
	e := newScanEnv(t)
	owner := &uploads.Actor{UserID: e.ownerID}
	other := &uploads.Actor{UserID: uuid.New()}

	t.Run("EICAR is infected, deleted, never downloadable, and audited", func(t *testing.T) {
		u := e.upload(t, uploads.PurposeCredentialDocument, uploads.TypePDF, []byte(testenv.EICAR))
		if u.Status != uploads.StatusInfected {
			t.Fatalf("status %s (%s), want infected", u.Status, u.Reason)
		}
		e.wantGoneFromQuarantine(t, u)
		if _, err := e.download(t, u.ID, owner); err == nil {
			t.Error("an infected upload got a download URL")
		}
		var audits int
		if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE action = 'upload.infected' AND details->>'upload_id' = $1", u.ID.String()).Scan(&audits); err != nil || audits != 1 {
			t.Errorf("%d upload.infected audit events (%v), want 1", audits, err)
		}
	})
	t.Run("every ClamAV test file is infected", func(t *testing.T) {
		files, err := os.ReadDir(testenv.ClamavTestFiles)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			body, err := os.ReadFile(filepath.Join(testenv.ClamavTestFiles, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			u := e.upload(t, uploads.PurposeCredentialDocument, uploads.TypePDF, body)
			if u.Status != uploads.StatusInfected {
				t.Errorf("%s: status %s (%s), want infected", f.Name(), u.Status, u.Reason)
			}
			if _, err := e.download(t, u.ID, owner); err == nil {
				t.Errorf("%s: an infected upload got a download URL", f.Name())
			}
		}
	})
	t.Run("a clean PDF is clean, byte-identical, for its owner only", func(t *testing.T) {
		body := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
		u := e.upload(t, uploads.PurposeCredentialDocument, uploads.TypePDF, body)
		if u.Status != uploads.StatusClean || u.ReviewStatus != "pending" {
			t.Fatalf("status %s (%s), review %q; want clean, pending review", u.Status, u.Reason, u.ReviewStatus)
		}
		e.wantGoneFromQuarantine(t, u)
		got, err := e.download(t, u.ID, owner)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("download: %v, %d bytes; want the %d uploaded", err, len(got), len(body))
		}
		if _, err := e.download(t, u.ID, other); err == nil {
			t.Error("another user got a download URL of a credential document")
		}
		if _, err := e.download(t, u.ID, &uploads.Actor{UserID: uuid.New(), Admin: true}); err != nil {
			t.Errorf("an admin cannot download a credential document: %v", err)
		}
	})
	t.Run("a clean PNG credential is clean and byte-identical", func(t *testing.T) {
		body := pngImage(t, 40, 30)
		u := e.upload(t, uploads.PurposeCredentialDocument, uploads.TypePNG, body)
		if u.Status != uploads.StatusClean {
			t.Fatalf("status %s (%s), want clean", u.Status, u.Reason)
		}
		if got, err := e.download(t, u.ID, owner); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("download: %v, %d bytes; want the %d uploaded", err, len(got), len(body))
		}
	})
	t.Run("an executable declared as PNG is rejected and deleted", func(t *testing.T) {
		body := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 200)...)
		u := e.upload(t, uploads.PurposeAvatar, uploads.TypePNG, body)
		if u.Status != uploads.StatusRejected || u.Reason == "" {
			t.Fatalf("status %s (%q), want rejected with a reason", u.Status, u.Reason)
		}
		e.wantGoneFromQuarantine(t, u)
		if _, err := e.download(t, u.ID, owner); err == nil {
			t.Error("a rejected upload got a download URL")
		}
	})
	t.Run("a completed upload with no file is rejected", func(t *testing.T) {
		ctx := context.Background()
		c, err := e.svc.Create(ctx, *owner, uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: uploads.TypePNG, Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Complete(ctx, *owner, c.Upload.ID); err != nil {
			t.Fatal(err)
		}
		if u := e.scan(t, c.Upload.ID); u.Status != uploads.StatusRejected {
			t.Fatalf("status %s, want rejected", u.Status)
		}
	})
	t.Run("an avatar is re-encoded, bounded, public and set as the user's avatar", func(t *testing.T) {
		body := pngImage(t, 1200, 600)
		u := e.upload(t, uploads.PurposeAvatar, uploads.TypePNG, body)
		if u.Status != uploads.StatusClean {
			t.Fatalf("status %s (%s), want clean", u.Status, u.Reason)
		}
		got, err := e.download(t, u.ID, nil)
		if err != nil {
			t.Fatalf("anonymous download of a clean avatar: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(got))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != uploads.AvatarMaxSide || b.Dy() != uploads.AvatarMaxSide/2 {
			t.Errorf("re-encoded avatar is %v, want %dx%d", b, uploads.AvatarMaxSide, uploads.AvatarMaxSide/2)
		}
		var avatar uuid.NullUUID
		if err := e.db.QueryRow(context.Background(), "SELECT avatar_upload_id FROM users WHERE id = $1", e.ownerID).Scan(&avatar); err != nil || avatar.UUID != u.ID {
			t.Errorf("users.avatar_upload_id = %v (%v), want %s", avatar, err, u.ID)
		}
	})
	t.Run("a second start of the same scan runs nothing twice", func(t *testing.T) {
		u := e.upload(t, uploads.PurposeCredentialDocument, uploads.TypePDF, []byte(testenv.EICAR))
		again := e.scan(t, u.ID)
		if again.Status != uploads.StatusInfected {
			t.Fatalf("status %s after a second start", again.Status)
		}
		var scanned int
		if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2", u.ID, uploads.EventScanned).Scan(&scanned); err != nil || scanned != 1 {
			t.Errorf("%d %s events (%v), want 1", scanned, uploads.EventScanned, err)
		}
	})
}

// TestScanUploadWaitsForClamd: clamd is down when the scan starts; the scan activity fails and
// is retried with backoff while the file stays in quarantine and nothing is served; once clamd
// is back the same run completes, once.
func TestScanUploadWaitsForClamd(t *testing.T) {
	t.Parallel()
	private := testenv.NewPrivateClamd(t)
	e := newScanEnvWith(t, &clamd.Client{Address: private.Address, Timeout: 10 * time.Second})
	ctx := context.Background()
	owner := &uploads.Actor{UserID: e.ownerID}
	body := []byte("%PDF-1.4\n% a clean document\n%%EOF\n")
	private.Stop()
	id := e.put(t, uploads.PurposeCredentialDocument, uploads.TypePDF, body)
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ScanUploadID(id), TaskQueue: e.queue},
		workflows.ScanUploadName, workflows.ScanUploadInput{UploadID: id})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := e.tc.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		retried := false
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == activities.ScanUploadFileName && a.GetAttempt() >= 2 {
				retried = true
			}
		}
		if retried {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scan was not retried within a minute of clamd going down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, err := e.svc.ForScan(ctx, id)
	if err != nil || u.Status != uploads.StatusScanning {
		t.Fatalf("while clamd is down: %+v, %v; want scanning", u, err)
	}
	if _, err := e.download(t, id, owner); err == nil {
		t.Fatal("a download URL while clamd is down")
	}
	if _, err := e.store.Head(ctx, e.opts.CleanBucket, u.ObjectKey); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("the file reached the clean bucket unscanned: %v", err)
	}
	private.Start()
	var res workflows.ScanUploadResult
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := run.Get(rctx, &res); err != nil || res.Status != uploads.StatusClean {
		t.Fatalf("after clamd came back: %+v, %v; want clean", res, err)
	}
	if got, err := e.download(t, id, owner); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("download after the scan: %v", err)
	}
	var scanned int
	if err := e.db.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2", id, uploads.EventScanned).Scan(&scanned); err != nil || scanned != 1 {
		t.Errorf("%d %s events (%v), want 1", scanned, uploads.EventScanned, err)
	}
}

// TestExpireAbandonedUploads: an upload left pending past TUTORHUB_UPLOADS_ABANDON_AFTER
// loses its stored file and expires; a recent one and a completed one are left alone.
func TestExpireAbandonedUploads(t *testing.T) {
	t.Parallel()
	e := newScanEnv(t)
	ctx := context.Background()
	a := uploads.Actor{UserID: e.ownerID}
	create := func(age time.Duration) uploads.Upload {
		c, err := e.svc.Create(ctx, a, uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: uploads.TypePNG, Size: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Put(ctx, e.opts.QuarantineBucket, c.Upload.ObjectKey, uploads.TypePNG, bytes.NewReader([]byte("abcd")), 4); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Exec(ctx, "UPDATE uploads SET created_at = now() - $2::interval WHERE id = $1", c.Upload.ID, age.String()); err != nil {
			t.Fatal(err)
		}
		return c.Upload
	}
	abandoned, recent, completed := create(2*time.Hour), create(time.Minute), create(2*time.Hour)
	if _, err := e.svc.Complete(ctx, a, completed.ID); err != nil {
		t.Fatal(err)
	}
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "expire-abandoned-uploads-" + testenv.RandomID(), TaskQueue: e.queue},
		workflows.ExpireAbandonedUploadsName)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := run.Get(ctx, &n); err != nil || n != 1 {
		t.Fatalf("ExpireAbandonedUploads = %d, %v; want 1", n, err)
	}
	for _, tc := range []struct {
		u         uploads.Upload
		status    uploads.Status
		stillHeld bool
	}{{abandoned, uploads.StatusExpired, false}, {recent, uploads.StatusPending, true}, {completed, uploads.StatusScanning, true}} {
		got, err := e.svc.ForScan(ctx, tc.u.ID)
		if err != nil || got.Status != tc.status {
			t.Errorf("upload %s: %s, %v; want %s", tc.u.ID, got.Status, err, tc.status)
		}
		_, err = e.store.Head(ctx, e.opts.QuarantineBucket, tc.u.ObjectKey)
		if held := err == nil; held != tc.stillHeld {
			t.Errorf("upload %s (%s): object held %v, want %v", tc.u.ID, tc.status, held, tc.stillHeld)
		}
	}
	if _, err := e.svc.Complete(ctx, a, abandoned.ID); err == nil {
		t.Error("an expired upload was completed")
	}
}

// BenchmarkScanUpload: upload-to-clean latency of a 1 MB and a 20 MB credential document:
// the presigned PUT, CompleteUpload, and ScanUpload to its clean verdict (inspection,
// streaming from storage to clamd, promotion), one upload at a time; ns/op is one upload.
func BenchmarkScanUpload(b *testing.B) {
	for _, size := range []int{1 << 20, 20 << 20} {
		b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
			e := newScanEnv(b)
			body := make([]byte, size)
			copy(body, "%PDF-1.4\n")
			b.SetBytes(int64(size))
			for b.Loop() {
				if u := e.upload(b, uploads.PurposeCredentialDocument, uploads.TypePDF, body); u.Status != uploads.StatusClean {
					b.Fatalf("status %s (%s)", u.Status, u.Reason)
				}
			}
		})
	}
}
