package testenv

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/objectstore"
)

// S3Config is the storage tests use: TUTORHUB_TEST_S3_ENDPOINT, _REGION, _PATH_STYLE,
// _ACCESS_KEY_ID and _SECRET_ACCESS_KEY, by default the local stack's Versity S3 Gateway. Any
// S3-compatible endpoint configured so runs the same tests (the storage contract suite among
// them). Its buckets are the shared defaults; S3 gives each test buckets of its own.
func S3Config() config.Storage {
	return config.Storage{
		Endpoint:         envOr("TUTORHUB_TEST_S3_ENDPOINT", "http://127.0.0.1:7070"),
		Region:           envOr("TUTORHUB_TEST_S3_REGION", "us-east-1"),
		PathStyle:        envOr("TUTORHUB_TEST_S3_PATH_STYLE", "true") == "true",
		AccessKeyID:      envOr("TUTORHUB_TEST_S3_ACCESS_KEY_ID", "tutorhub-local"),
		SecretAccessKey:  envOr("TUTORHUB_TEST_S3_SECRET_ACCESS_KEY", "tutorhub-local-secret"),
		QuarantineBucket: "tutorhub-quarantine",
		CleanBucket:      "tutorhub-clean",
	}
}

// S3 returns the storage configuration of this test: two fresh buckets (quarantine and clean)
// on the test storage, emptied and removed when the test ends, and a Store on it. The local
// server is started with deploy/local/up.sh when it does not answer.
func S3(t testing.TB) (config.Storage, *objectstore.Store) {
	t.Helper()
	cfg := S3Config()
	needService(t, "versitygw", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Endpoint+"/", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	id := RandomID()
	cfg.QuarantineBucket = "test-" + id + "-quarantine"
	cfg.CleanBucket = "test-" + id + "-clean"
	return cfg, storeWithBuckets(t, cfg, true)
}

// storeWithBuckets opens a Store on cfg and creates its quarantine and clean buckets, removed
// again when the test ends if remove is set.
func storeWithBuckets(t testing.TB, cfg config.Storage, remove bool) *objectstore.Store {
	t.Helper()
	store, err := objectstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range []string{cfg.QuarantineBucket, cfg.CleanBucket} {
		if err := store.EnsureBucket(ctx, b); err != nil {
			t.Fatalf("S3 at %s: %v", cfg.Endpoint, err)
		}
		if !remove {
			continue
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := store.DeleteBucket(ctx, b); err != nil {
				t.Errorf("remove test bucket: %v", err)
			}
		})
	}
	return store
}
