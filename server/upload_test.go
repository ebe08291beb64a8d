package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/uploads"
)

type uploadEnv struct {
	*testAPI
	store *objectstore.Store
	opts  uploads.Options
}

func newUploadEnv(t *testing.T) *uploadEnv {
	t.Helper()
	cfg, store := testenv.S3(t)
	o := uploads.Options{
		Store: store, QuarantineBucket: cfg.QuarantineBucket, CleanBucket: cfg.CleanBucket,
		PutURLTTL: 2 * time.Minute, GetURLTTL: time.Minute,
	}
	api := newTestAPI(t, func(so *server.Options) { so.Uploads = o })
	return &uploadEnv{testAPI: api, store: store, opts: o}
}

// client is the UploadService as u; nil is anonymous.
func (e *uploadEnv) client(u *testUser) tutorhubv1connect.UploadServiceClient {
	if u == nil {
		return tutorhubv1connect.NewUploadServiceClient(http.DefaultClient, e.URL)
	}
	return tutorhubv1connect.NewUploadServiceClient(http.DefaultClient, e.URL, u.opt())
}

// markClean stands in for a finished scan: the file moves to the clean bucket and the row to
// clean (the ScanUpload workflow's tests cover the real scan).
func (e *uploadEnv) markClean(t *testing.T, id string, body []byte) {
	t.Helper()
	ctx := context.Background()
	q := queries.New(e.DB)
	row, err := q.GetUpload(ctx, uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Put(ctx, e.opts.CleanBucket, row.ObjectKey, row.ContentType, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if row.Status == "pending" {
		if _, err := q.CompleteUpload(ctx, row.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.FinishUploadScan(ctx, queries.FinishUploadScanParams{ID: row.ID, Status: "clean", SniffedType: row.ContentType}); err != nil {
		t.Fatal(err)
	}
}

func putFile(t *testing.T, res *tutorhubv1.CreateUploadResponse, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(res.GetUploadMethod(), res.GetUploadUrl(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range res.GetUploadHeaders() {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

var pngBody = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 100)...)

func TestCreateUploadRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newUploadEnv(t)
	u := e.signUp(t)
	cases := []struct {
		name   string
		req    *tutorhubv1.CreateUploadRequest
		fields []string
	}{
		{"unknown purpose", &tutorhubv1.CreateUploadRequest{Purpose: "malware", ContentType: "image/png", SizeBytes: 10}, []string{"purpose"}},
		{"zero size", &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: 0}, []string{"size_bytes"}},
		{"excessive size", &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: 1 << 40}, []string{"size_bytes"}},
		{"disallowed type", &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "application/x-msdownload", SizeBytes: 10}, []string{"content_type"}},
		{"a PDF avatar", &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "application/pdf", SizeBytes: 10}, []string{"content_type"}},
		{"over-long content type", &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: string(bytes.Repeat([]byte("a"), 300)), SizeBytes: 10}, []string{"content_type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client(u).CreateUpload(context.Background(), tc.req)
			if codeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("err %v, want InvalidArgument", err)
			}
			var got []string
			for _, v := range violations(t, err) {
				got = append(got, fieldOf(v))
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("violations on %v, want %v", got, tc.fields)
			}
		})
	}
	t.Run("completing an unknown or someone else's upload is NotFound", func(t *testing.T) {
		other := e.signUp(t)
		res, err := e.client(u).CreateUpload(context.Background(), &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{uuid.NewString(), res.GetUpload().GetId()} {
			if _, err := e.client(other).CompleteUpload(context.Background(), &tutorhubv1.CompleteUploadRequest{Id: id}); codeOf(err) != connect.CodeNotFound {
				t.Errorf("complete %s as another user: %v, want NotFound", id, err)
			}
		}
		if _, err := e.client(u).CompleteUpload(context.Background(), &tutorhubv1.CompleteUploadRequest{Id: "not-a-uuid"}); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("complete a malformed id: %v, want InvalidArgument", err)
		}
	})
}

// TestUploadFlowThroughPresignedURLs: the file goes to storage, never through the API; the
// presigned PUT is bound to the declared size and type; completing twice records one scan
// event; only a clean file gets a download URL, and the URL serves it byte-identical.
func TestUploadFlowThroughPresignedURLs(t *testing.T) {
	t.Parallel()
	e := newUploadEnv(t)
	ctx := context.Background()
	u := e.signUp(t)
	c := e.client(u)
	res, err := c.CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: "credential_document", ContentType: "image/png", SizeBytes: int64(len(pngBody))})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetUpload().GetStatus() != tutorhubv1.UploadStatus_UPLOAD_STATUS_PENDING || res.GetUploadMethod() != http.MethodPut {
		t.Fatalf("created %v with method %s", res.GetUpload(), res.GetUploadMethod())
	}
	if got := putFile(t, res, append(slices.Clone(pngBody), 'x')); got < 400 {
		t.Fatalf("a body larger than declared was stored: %d", got)
	}
	if got := putFile(t, res, pngBody); got != http.StatusOK {
		t.Fatalf("PUT of the declared body: %d", got)
	}
	id := res.GetUpload().GetId()
	if _, err := c.GetDownloadURL(ctx, &tutorhubv1.GetDownloadURLRequest{Id: id}); codeOf(err) != connect.CodeNotFound {
		t.Fatalf("download URL of a pending upload: %v, want NotFound", err)
	}
	for range 2 {
		done, err := c.CompleteUpload(ctx, &tutorhubv1.CompleteUploadRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		if done.GetUpload().GetStatus() != tutorhubv1.UploadStatus_UPLOAD_STATUS_SCANNING {
			t.Fatalf("after CompleteUpload: %v", done.GetUpload().GetStatus())
		}
	}
	var events int
	if err := e.DB.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2", id, uploads.EventCompleted).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Errorf("%d %s events after two completions, want 1", events, uploads.EventCompleted)
	}
	if _, err := c.GetDownloadURL(ctx, &tutorhubv1.GetDownloadURLRequest{Id: id}); codeOf(err) != connect.CodeNotFound {
		t.Fatalf("download URL while scanning: %v, want NotFound", err)
	}
	e.markClean(t, id, pngBody)
	dl, err := c.GetDownloadURL(ctx, &tutorhubv1.GetDownloadURLRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(dl.GetUrl())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, pngBody) {
		t.Fatalf("download: %s, %d bytes; want the %d bytes uploaded", resp.Status, len(got), len(pngBody))
	}
	if _, err := c.DeleteUpload(ctx, &tutorhubv1.DeleteUploadRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUpload(ctx, &tutorhubv1.GetUploadRequest{Id: id}); codeOf(err) != connect.CodeNotFound {
		t.Errorf("GetUpload after DeleteUpload: %v", err)
	}
	if _, err := e.store.Head(ctx, e.opts.CleanBucket, uploads.ObjectKey(uploads.PurposeCredentialDocument, uuid.MustParse(u.ID), uuid.MustParse(id))); err == nil {
		t.Error("the clean file is still stored after DeleteUpload")
	}
}

// TestUploadServiceAccess: who may call each RPC on an upload, for a credential document and
// an avatar of the owner. Someone else's upload is NotFound, never revealed.
func TestUploadServiceAccess(t *testing.T) {
	t.Parallel()
	e := newUploadEnv(t)
	ctx := context.Background()
	owner, other, admin := e.signUp(t), e.signUp(t), e.admin(t)
	callers := map[string]*testUser{"anonymous": nil, "other user": other, "owner": owner, "admin": admin}
	newUpload := func(t *testing.T, purpose string) string {
		t.Helper()
		res, err := e.client(owner).CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: purpose, ContentType: "image/png", SizeBytes: int64(len(pngBody))})
		if err != nil {
			t.Fatal(err)
		}
		e.markClean(t, res.GetUpload().GetId(), pngBody)
		return res.GetUpload().GetId()
	}
	type want map[string]connect.Code
	rows := []struct {
		rpc  string
		want want
		call func(c tutorhubv1connect.UploadServiceClient, id string) error
	}{
		{"CreateUpload", want{"anonymous": connect.CodeUnauthenticated, "other user": codeOK, "owner": codeOK, "admin": codeOK},
			func(c tutorhubv1connect.UploadServiceClient, _ string) error {
				_, err := c.CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: 1})
				return err
			}},
		{"GetUpload", want{"anonymous": connect.CodeUnauthenticated, "other user": connect.CodeNotFound, "owner": codeOK, "admin": codeOK},
			func(c tutorhubv1connect.UploadServiceClient, id string) error {
				_, err := c.GetUpload(ctx, &tutorhubv1.GetUploadRequest{Id: id})
				return err
			}},
		{"CompleteUpload", want{"anonymous": connect.CodeUnauthenticated, "other user": connect.CodeNotFound, "owner": codeOK, "admin": connect.CodeNotFound},
			func(c tutorhubv1connect.UploadServiceClient, id string) error {
				_, err := c.CompleteUpload(ctx, &tutorhubv1.CompleteUploadRequest{Id: id})
				return err
			}},
		{"GetDownloadURL of a credential document", want{"anonymous": connect.CodeNotFound, "other user": connect.CodeNotFound, "owner": codeOK, "admin": codeOK},
			func(c tutorhubv1connect.UploadServiceClient, id string) error {
				_, err := c.GetDownloadURL(ctx, &tutorhubv1.GetDownloadURLRequest{Id: id})
				return err
			}},
		{"GetDownloadURL of an avatar", want{"anonymous": codeOK, "other user": codeOK, "owner": codeOK, "admin": codeOK},
			func(c tutorhubv1connect.UploadServiceClient, id string) error {
				_, err := c.GetDownloadURL(ctx, &tutorhubv1.GetDownloadURLRequest{Id: id})
				return err
			}},
		{"DeleteUpload", want{"anonymous": connect.CodeUnauthenticated, "other user": connect.CodeNotFound, "owner": codeOK, "admin": codeOK},
			func(c tutorhubv1connect.UploadServiceClient, id string) error {
				_, err := c.DeleteUpload(ctx, &tutorhubv1.DeleteUploadRequest{Id: id})
				return err
			}},
	}
	for _, row := range rows {
		for name, u := range callers {
			t.Run(row.rpc+"/"+name, func(t *testing.T) {
				purpose := "credential_document"
				if row.rpc == "GetDownloadURL of an avatar" {
					purpose = "avatar"
				}
				id := newUpload(t, purpose)
				got := codeOK
				if err := row.call(e.client(u), id); err != nil {
					got = codeOf(err)
				}
				if got != row.want[name] {
					t.Errorf("%s as %s: %v, want %v", row.rpc, name, got, row.want[name])
				}
			})
		}
	}
	for _, p := range []string{
		tutorhubv1connect.UploadServiceCreateUploadProcedure, tutorhubv1connect.UploadServiceCompleteUploadProcedure,
		tutorhubv1connect.UploadServiceGetUploadProcedure, tutorhubv1connect.UploadServiceGetDownloadURLProcedure,
		tutorhubv1connect.UploadServiceDeleteUploadProcedure,
	} {
		if _, ok := server.AccessRules[p]; !ok {
			t.Errorf("%s has no access rule", p)
		}
	}
}

// The owner's record names the avatar the scan set (users.avatar_upload_id).
func TestGetMeShowsTheAvatar(t *testing.T) {
	t.Parallel()
	e := newUploadEnv(t)
	ctx := context.Background()
	u := e.signUp(t)
	res, err := e.client(u).CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: "avatar", ContentType: "image/png", SizeBytes: int64(len(pngBody))})
	if err != nil {
		t.Fatal(err)
	}
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, e.URL, u.opt())
	me, err := users.GetMe(ctx, &tutorhubv1.GetMeRequest{})
	if err != nil || me.GetUser().GetAvatarUploadId() != "" {
		t.Fatalf("before: %q, %v; want no avatar", me.GetUser().GetAvatarUploadId(), err)
	}
	if err := queries.New(e.DB).SetUserAvatar(ctx, queries.SetUserAvatarParams{
		UserID: uuid.MustParse(u.ID), UploadID: uuid.NullUUID{UUID: uuid.MustParse(res.GetUpload().GetId()), Valid: true},
	}); err != nil {
		t.Fatal(err)
	}
	if me, err = users.GetMe(ctx, &tutorhubv1.GetMeRequest{}); err != nil || me.GetUser().GetAvatarUploadId() != res.GetUpload().GetId() {
		t.Fatalf("after: %q, %v; want %s", me.GetUser().GetAvatarUploadId(), err, res.GetUpload().GetId())
	}
	// Anyone sees it on the public profile.
	anonymous := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, e.URL)
	pub, err := anonymous.GetUser(ctx, &tutorhubv1.GetUserRequest{Id: u.ID})
	if err != nil || pub.GetProfile().GetAvatarUploadId() != res.GetUpload().GetId() {
		t.Fatalf("GetUser: %q, %v; want %s", pub.GetProfile().GetAvatarUploadId(), err, res.GetUpload().GetId())
	}
}

// countingHandler counts the request and response body bytes that pass through the API.
type countingHandler struct {
	next    http.Handler
	in, out atomic.Int64
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = &countingBody{ReadCloser: r.Body, n: &c.in}
	c.next.ServeHTTP(&countingWriter{ResponseWriter: w, n: &c.out}, r)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return w.ResponseWriter.Write(p)
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// TestAPIReadsNoFileBytes measures what the API process reads and writes while a 20 MB
// upload goes through its whole flow (create, PUT, complete, status, download URL, GET): a
// few kilobytes of API messages; the file's bytes go between the client and storage only.
func TestAPIReadsNoFileBytes(t *testing.T) {
	t.Parallel()
	e := newUploadEnv(t)
	counter := &countingHandler{next: e.Handler}
	srv := httptest.NewServer(counter)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	u := e.signUp(t)
	c := tutorhubv1connect.NewUploadServiceClient(http.DefaultClient, srv.URL, u.opt())
	body := make([]byte, 20<<20)
	copy(body, "%PDF-1.4\n")
	res, err := c.CreateUpload(ctx, &tutorhubv1.CreateUploadRequest{Purpose: "credential_document", ContentType: "application/pdf", SizeBytes: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if got := putFile(t, res, body); got != http.StatusOK {
		t.Fatalf("PUT: %d", got)
	}
	if _, err := c.CompleteUpload(ctx, &tutorhubv1.CompleteUploadRequest{Id: res.GetUpload().GetId()}); err != nil {
		t.Fatal(err)
	}
	e.markClean(t, res.GetUpload().GetId(), body)
	if _, err := c.GetUpload(ctx, &tutorhubv1.GetUploadRequest{Id: res.GetUpload().GetId()}); err != nil {
		t.Fatal(err)
	}
	dl, err := c.GetDownloadURL(ctx, &tutorhubv1.GetDownloadURLRequest{Id: res.GetUpload().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(dl.GetUrl())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != int64(len(body)) {
		t.Fatalf("downloaded %d bytes, want %d", n, len(body))
	}
	t.Logf("API read %d and wrote %d body bytes for a %d-byte upload", counter.in.Load(), counter.out.Load(), len(body))
	if counter.in.Load() > 16<<10 || counter.out.Load() > 16<<10 {
		t.Errorf("the API read %d and wrote %d bytes: file bytes passed through it", counter.in.Load(), counter.out.Load())
	}
}
