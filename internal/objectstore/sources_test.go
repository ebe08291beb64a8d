package objectstore_test

import (
	"slices"
	"testing"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/objectstore"
)

func TestBrowserSources(t *testing.T) {
	for _, tc := range []struct {
		endpoint, public string
		pathStyle        bool
		want             []string
	}{
		{"http://127.0.0.1:7070", "", true, []string{"http://127.0.0.1:7070"}},
		{"http://s3.internal:9000", "https://files.example.com/", true, []string{"https://files.example.com"}},
		{"https://storage.googleapis.com", "", false, []string{"https://*.storage.googleapis.com"}},
		{"", "", false, []string{"https://*.amazonaws.com"}},
	} {
		s, err := objectstore.New(config.Storage{Endpoint: tc.endpoint, PublicEndpoint: tc.public, PathStyle: tc.pathStyle, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.BrowserSources(); !slices.Equal(got, tc.want) {
			t.Errorf("%q (public %q, path style %v): %q, want %q", tc.endpoint, tc.public, tc.pathStyle, got, tc.want)
		}
	}
	if _, err := objectstore.New(config.Storage{Endpoint: "ftp://x", Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"}); err == nil {
		t.Error("an ftp endpoint was accepted")
	}
}
