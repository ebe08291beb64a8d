package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/uploads"
)

const testWebhookSecret = "storage-webhook-secret-0123456789abcdef"

// newWebhookEnv is an API whose uploads use the storage cfg and whose storage webhook takes
// testWebhookSecret.
func newWebhookEnv(t *testing.T, cfg config.Storage, store *objectstore.Store) *uploadEnv {
	t.Helper()
	o := uploads.Options{
		Store: store, QuarantineBucket: cfg.QuarantineBucket, CleanBucket: cfg.CleanBucket,
		PutURLTTL: 2 * time.Minute, GetURLTTL: time.Minute,
	}
	api := newTestAPI(t, func(so *server.Options) {
		so.Uploads = o
		so.StorageWebhookSecret = []byte(testWebhookSecret)
	})
	return &uploadEnv{testAPI: api, store: store, opts: o}
}

// The storage's bucket notification completes an upload as CompleteUpload does: the scan
// starts once whichever trigger comes first or both come; a wrong token, a foreign bucket or
// key, a bad body and an oversized one change nothing.
func TestStorageWebhookCompletesUploadsOnce(t *testing.T) {
	t.Parallel()
	cfg, store := testenv.S3(t)
	e := newWebhookEnv(t, cfg, store)
	ctx := context.Background()
	owner, other := e.signUp(t), e.signUp(t)
	create := func(u *testUser) (id, key string) {
		t.Helper()
		res, err := e.client(u).CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: 100})
		if err != nil {
			t.Fatal(err)
		}
		id = res.GetUpload().GetId()
		row, err := queries.New(e.DB).GetUpload(ctx, uuid.MustParse(id))
		if err != nil {
			t.Fatal(err)
		}
		return id, row.ObjectKey
	}
	event := func(bucket, key string) string {
		return fmt.Sprintf(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q,"size":100}}}]}`,
			bucket, url.QueryEscape(key))
	}
	post := func(body string, header map[string]string, query string) (int, string) {
		t.Helper()
		status, _, b := do(t, http.MethodPost, e.URL+server.StorageWebhookPath+query, body, header)
		return status, string(b)
	}
	bearer := map[string]string{"Authorization": "Bearer " + testWebhookSecret, "Content-Type": "application/json"}
	state := func(id string) (string, int) {
		t.Helper()
		var status string
		var events int
		if err := e.DB.QueryRow(ctx, `SELECT u.status, (SELECT count(*) FROM outbox WHERE aggregate_id = u.id AND event_type = $2)
			FROM uploads u WHERE u.id = $1`, id, uploads.EventCompleted).Scan(&status, &events); err != nil {
			t.Fatal(err)
		}
		return status, events
	}

	id, key := create(owner)
	// Refused before anything is read: no token, a wrong one, another method.
	for _, c := range []struct {
		name   string
		header map[string]string
		query  string
		want   int
	}{
		{"no token", map[string]string{"Content-Type": "application/json"}, "", http.StatusUnauthorized},
		{"wrong bearer", map[string]string{"Authorization": "Bearer " + strings.Repeat("x", len(testWebhookSecret))}, "", http.StatusUnauthorized},
		{"wrong query token", nil, "?token=nope", http.StatusUnauthorized},
	} {
		if status, body := post(event(cfg.QuarantineBucket, key), c.header, c.query); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.want)
		}
	}
	if status, _, _ := do(t, http.MethodGet, e.URL+server.StorageWebhookPath, "", bearer); status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", status)
	}
	// Bad bodies.
	if status, body := post("{not json", bearer, ""); status != http.StatusBadRequest {
		t.Errorf("malformed body: %d %s, want 400", status, body)
	}
	if status, body := post(`{"Records":[`+strings.Repeat(`{},`, 100)+`{}]}`, bearer, ""); status != http.StatusBadRequest {
		t.Errorf("101 records: %d %s, want 400", status, body)
	}
	if status, body := post(`{"Records":[],"pad":"`+strings.Repeat("a", 300<<10)+`"}`, bearer, ""); status != http.StatusRequestEntityTooLarge {
		t.Errorf("300 KiB body: %d %s, want 413", status, body)
	}
	// Ignored: another bucket, a key under another owner, an unknown upload, another event.
	forged := strings.Replace(key, owner.ID, other.ID, 1)
	for _, body := range []string{
		event(cfg.CleanBucket, key),
		event(cfg.QuarantineBucket, forged),
		event(cfg.QuarantineBucket, uploads.ObjectKey(uploads.PurposeAvatar, uuid.MustParse(owner.ID), uuid.New())),
		strings.Replace(event(cfg.QuarantineBucket, key), "ObjectCreated:Put", "ObjectRemoved:Delete", 1),
	} {
		if status, res := post(body, bearer, ""); status != http.StatusOK || !strings.Contains(res, `"completed":0`) {
			t.Errorf("%s: %d %s, want 200 with nothing completed", body, status, res)
		}
	}
	if status, events := state(id); status != "pending" || events != 0 {
		t.Fatalf("after refused and ignored notifications: %s with %d events, want pending and none", status, events)
	}

	// The notification completes the upload (token in the query, as storage without headers
	// sends it); a repeat and the client's own CompleteUpload start nothing more.
	if status, res := post(event(cfg.QuarantineBucket, key), map[string]string{"Content-Type": "application/json"}, "?token="+testWebhookSecret); status != http.StatusOK || !strings.Contains(res, `"completed":1`) {
		t.Fatalf("notification: %d %s", status, res)
	}
	if status, res := post(event(cfg.QuarantineBucket, key), bearer, ""); status != http.StatusOK {
		t.Fatalf("repeated notification: %d %s", status, res)
	}
	if _, err := e.client(owner).CompleteUpload(ctx, &tutorhubv1.CompleteUploadRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if status, events := state(id); status != "scanning" || events != 1 {
		t.Errorf("after three completions: %s with %d %s events, want scanning and 1", status, events, uploads.EventCompleted)
	}

	// The client first, then the storage: still one scan.
	id2, key2 := create(owner)
	if _, err := e.client(owner).CompleteUpload(ctx, &tutorhubv1.CompleteUploadRequest{Id: id2}); err != nil {
		t.Fatal(err)
	}
	if status, res := post(event(cfg.QuarantineBucket, key2), bearer, ""); status != http.StatusOK {
		t.Fatalf("notification after CompleteUpload: %d %s", status, res)
	}
	if status, events := state(id2); status != "scanning" || events != 1 {
		t.Errorf("client then storage: %s with %d events, want scanning and 1", status, events)
	}
}

// Without a configured token the webhook does not exist.
func TestStorageWebhookIsOffWithoutAToken(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	status, _, _ := do(t, http.MethodPost, api.URL+server.StorageWebhookPath, `{"Records":[]}`, map[string]string{"Authorization": "Bearer " + testWebhookSecret})
	if status != http.StatusNotFound {
		t.Errorf("POST %s without a token configured: %d, want 404", server.StorageWebhookPath, status)
	}
}

// End to end with the storage's own notifications: a Versity S3 Gateway of the test's own
// posts its bucket notification to the webhook when the browser's presigned PUT lands, and
// the upload moves to scanning with one upload.completed event, without CompleteUpload.
func TestStorageNotificationsFromTheGatewayCompleteUploads(t *testing.T) {
	t.Parallel()
	// The gateway starts before the API it notifies (the API needs the gateway's address), so
	// it posts to a front that forwards to the API once there is one; before that, only the
	// gateway's start-up test event arrives, and is answered 200.
	var apiURL atomic.Pointer[url.URL]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := apiURL.Load(); u != nil {
			httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
		}
	}))
	t.Cleanup(front.Close)
	cfg, store := testenv.PrivateS3(t, front.URL+server.StorageWebhookPath+"?token="+testWebhookSecret)
	e := newWebhookEnv(t, cfg, store)
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	apiURL.Store(u)
	ctx := context.Background()
	owner := e.signUp(t)
	body := []byte("\x89PNG\r\n\x1a\n a small file for the gateway's notification")
	res, err := e.client(owner).CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if got := putFile(t, res, body); got != http.StatusOK {
		t.Fatalf("PUT: %d", got)
	}
	id := res.GetUpload().GetId()
	var status string
	var events int
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := e.DB.QueryRow(ctx, `SELECT u.status, (SELECT count(*) FROM outbox WHERE aggregate_id = u.id AND event_type = $2)
			FROM uploads u WHERE u.id = $1`, id, uploads.EventCompleted).Scan(&status, &events); err != nil {
			t.Fatal(err)
		}
		if status != "pending" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != "scanning" || events != 1 {
		t.Fatalf("after the gateway's notification: %s with %d %s events, want scanning and 1", status, events, uploads.EventCompleted)
	}
}
