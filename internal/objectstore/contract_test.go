package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The storage contract: what the upload pipeline relies on from any S3-compatible service.
// It runs against the local Versity S3 Gateway, and against any endpoint the
// TUTORHUB_TEST_S3_* variables name (AWS S3, GCS's S3 API, ...).

func put(t *testing.T, req objectstore.PresignedRequest, body []byte, override map[string]string) *http.Response {
	t.Helper()
	r, err := http.NewRequest(req.Method, req.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	for k, v := range override {
		r.Header.Set(k, v)
	}
	r.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	cfg, store := testenv.S3(t)
	ctx := context.Background()
	body := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("x", 1000))

	t.Run("a presigned PUT stores exactly the signed body", func(t *testing.T) {
		req, err := store.PresignPut(ctx, cfg.QuarantineBucket, "a/exact", "image/png", int64(len(body)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if resp := put(t, req, body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %s", resp.Status)
		}
		info, err := store.Head(ctx, cfg.QuarantineBucket, "a/exact")
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(body)) || info.ContentType != "image/png" {
			t.Errorf("Head = %+v, want %d bytes of image/png", info, len(body))
		}
		head, err := store.ReadHead(ctx, cfg.QuarantineBucket, "a/exact", 8)
		if err != nil || !bytes.Equal(head, body[:8]) {
			t.Errorf("ReadHead = %q, %v; want %q", head, err, body[:8])
		}
	})
	t.Run("a presigned PUT refuses a larger body than signed", func(t *testing.T) {
		req, err := store.PresignPut(ctx, cfg.QuarantineBucket, "a/larger", "image/png", 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		resp := put(t, req, body, nil)
		if resp.StatusCode < 400 {
			t.Fatalf("PUT of %d bytes signed for 100: %s", len(body), resp.Status)
		}
		if _, err := store.Head(ctx, cfg.QuarantineBucket, "a/larger"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("object stored after a refused PUT: %v", err)
		}
	})
	t.Run("a presigned PUT refuses another content type", func(t *testing.T) {
		req, err := store.PresignPut(ctx, cfg.QuarantineBucket, "a/type", "image/png", int64(len(body)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if resp := put(t, req, body, map[string]string{"Content-Type": "application/x-msdownload"}); resp.StatusCode < 400 {
			t.Fatalf("PUT with another content type: %s", resp.Status)
		}
	})
	t.Run("an expired presigned URL is refused", func(t *testing.T) {
		req, err := store.PresignPut(ctx, cfg.QuarantineBucket, "a/expired", "image/png", int64(len(body)), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp := put(t, req, body, nil)
			if resp.StatusCode == http.StatusForbidden {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a 1 s URL still accepted after 10 s: %s", resp.Status)
			}
			// The first PUT may land before expiry; only a refusal later counts.
			_ = store.Delete(ctx, cfg.QuarantineBucket, "a/expired")
			time.Sleep(250 * time.Millisecond)
		}
	})
	t.Run("copy, presigned GET, delete", func(t *testing.T) {
		if err := store.Put(ctx, cfg.QuarantineBucket, "b/obj", "application/pdf", bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		if err := store.Copy(ctx, cfg.QuarantineBucket, cfg.CleanBucket, "b/obj"); err != nil {
			t.Fatal(err)
		}
		url, err := store.PresignGet(ctx, cfg.CleanBucket, "b/obj", "application/pdf", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if code, got := get(t, url); code != http.StatusOK || !bytes.Equal(got, body) {
			t.Fatalf("GET: %d, %d bytes; want 200 and the %d bytes", code, len(got), len(body))
		}
		rc, info, err := store.Open(ctx, cfg.CleanBucket, "b/obj")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) || info.Size != int64(len(body)) {
			t.Errorf("Open: %d bytes, info %+v", len(got), info)
		}
		for range 2 { // idempotent
			if err := store.Delete(ctx, cfg.CleanBucket, "b/obj"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.Head(ctx, cfg.CleanBucket, "b/obj"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("Head after Delete: %v, want ErrNotFound", err)
		}
		if code, _ := get(t, url); code == http.StatusOK {
			t.Error("GET after Delete succeeded")
		}
	})
	t.Run("missing objects are ErrNotFound", func(t *testing.T) {
		if _, err := store.Head(ctx, cfg.QuarantineBucket, "missing"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("Head: %v", err)
		}
		if _, _, err := store.Open(ctx, cfg.QuarantineBucket, "missing"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("Open: %v", err)
		}
		if err := store.Copy(ctx, cfg.QuarantineBucket, cfg.CleanBucket, "missing"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("Copy: %v", err)
		}
	})
	t.Run("a page of an allowed origin may PUT from the browser, others may not", func(t *testing.T) {
		const origin = "http://app.example.test:8080"
		if err := store.AllowBrowserUploads(ctx, cfg.QuarantineBucket, []string{origin}); err != nil {
			t.Fatal(err)
		}
		req, err := store.PresignPut(ctx, cfg.QuarantineBucket, "a/browser", "image/png", int64(len(body)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		preflight := func(from string) *http.Response {
			t.Helper()
			r, _ := http.NewRequest(http.MethodOptions, req.URL, nil)
			r.Header.Set("Origin", from)
			r.Header.Set("Access-Control-Request-Method", http.MethodPut)
			r.Header.Set("Access-Control-Request-Headers", "content-type")
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		if resp := preflight(origin); resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(strings.ToUpper(resp.Header.Get("Access-Control-Allow-Methods")), "PUT") {
			t.Errorf("preflight from %s: %s, headers %v; want it allowed", origin, resp.Status, resp.Header)
		}
		if resp := preflight("http://evil.example.test"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from another origin: %s, Access-Control-Allow-Origin %q; want none", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		resp := put(t, req, body, map[string]string{"Origin": origin})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("PUT from %s: %s, Access-Control-Allow-Origin %q", origin, resp.Status, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("EnsureBucket is idempotent", func(t *testing.T) {
		if err := store.EnsureBucket(ctx, cfg.CleanBucket); err != nil {
			t.Fatal(err)
		}
	})
}
