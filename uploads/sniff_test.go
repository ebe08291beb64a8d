package uploads_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/uploads"
)

func encoded(t *testing.T, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	pngBytes := encoded(t, func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) })
	jpegBytes := encoded(t, func(b *bytes.Buffer, i image.Image) error { return jpeg.Encode(b, i, nil) })
	webp := append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 20)...)
	cases := []struct {
		name string
		head []byte
		want string
	}{
		{"PNG", pngBytes, uploads.TypePNG},
		{"JPEG", jpegBytes, uploads.TypeJPEG},
		{"WebP", webp, uploads.TypeWebP},
		{"PDF", []byte("%PDF-1.7\n%âãÏÓ\n1 0 obj"), uploads.TypePDF},
		{"Windows executable", []byte("MZ\x90\x00\x03\x00\x00\x00"), uploads.TypeExecutable},
		{"ELF executable", []byte("\x7fELF\x02\x01\x01"), uploads.TypeExecutable},
		{"shell script", []byte("#!/bin/sh\nrm -rf /\n"), uploads.TypeExecutable},
		{"plain text", []byte("hello"), "text/plain"},
		{"HTML", []byte("<html><script>alert(1)</script>"), "text/html"},
		{"empty", nil, "text/plain"},
		{"RIFF that is not WebP", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wave"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := uploads.Sniff(tc.head); got != tc.want {
				t.Errorf("Sniff = %q, want %q", got, tc.want)
			}
		})
	}
}

// Every Windows executable of the ClamAV test files is told apart from an image.
func TestSniffClamavTestExecutables(t *testing.T) {
	files, _ := filepath.Glob("/usr/share/clamav-testfiles/*.exe")
	if len(files) == 0 {
		t.Skip("clamav-testfiles not installed")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := uploads.Sniff(b); got != uploads.TypeExecutable {
			t.Errorf("%s: Sniff = %q", filepath.Base(f), got)
		}
	}
}

func TestCheck(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	cases := []struct {
		name       string
		purpose    uploads.Purpose
		declared   string
		head       []byte
		wantReject bool
	}{
		{"a PNG avatar declared as PNG passes", uploads.PurposeAvatar, "image/png", png, false},
		{"parameters and case of the declared type do not matter", uploads.PurposeAvatar, "Image/PNG; charset=x", png, false},
		{"an executable declared as PNG is rejected", uploads.PurposeAvatar, "image/png", []byte("MZ\x90\x00"), true},
		{"a PDF declared as PNG is rejected", uploads.PurposeAvatar, "image/png", []byte("%PDF-1.4"), true},
		{"a PDF avatar is rejected even when declared", uploads.PurposeAvatar, "application/pdf", []byte("%PDF-1.4"), true},
		{"a PDF credential document passes", uploads.PurposeCredentialDocument, "application/pdf", []byte("%PDF-1.4"), false},
		{"HTML declared as PDF is rejected", uploads.PurposeCredentialDocument, "application/pdf", []byte("<html>"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, reason := uploads.Check(tc.purpose, tc.declared, tc.head)
			if (reason != "") != tc.wantReject {
				t.Errorf("reason %q, want rejected=%v", reason, tc.wantReject)
			}
		})
	}
}

func violations(err error) []string {
	var e *tutorhub.Error
	if !errors.As(err, &e) || e.Code != tutorhub.EINVALID {
		return nil
	}
	var rules []string
	for _, v := range e.Violations {
		rules = append(rules, v.Field+":"+v.Rule)
	}
	slices.Sort(rules)
	return rules
}

func TestRequestValidate(t *testing.T) {
	cases := []struct {
		name string
		req  uploads.Request
		want []string
	}{
		{"a small PNG avatar", uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: "image/png", Size: 1000}, nil},
		{"a 20 MB PDF credential", uploads.Request{Purpose: uploads.PurposeCredentialDocument, ContentType: "application/pdf", Size: 20 << 20}, nil},
		{"unknown purpose", uploads.Request{Purpose: "virus", ContentType: "image/png", Size: 10}, []string{"purpose:upload.purpose.unknown"}},
		{"zero size", uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: "image/png", Size: 0}, []string{"size_bytes:upload.size.empty"}},
		{"negative size", uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: "image/png", Size: -1}, []string{"size_bytes:upload.size.empty"}},
		{"an avatar over its limit", uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: "image/png", Size: 5<<20 + 1}, []string{"size_bytes:upload.size.too_large"}},
		{"a PDF avatar", uploads.Request{Purpose: uploads.PurposeAvatar, ContentType: "application/pdf", Size: 10}, []string{"content_type:upload.content_type.not_allowed"}},
		{"an executable document", uploads.Request{Purpose: uploads.PurposeCredentialDocument, ContentType: "application/x-msdownload", Size: 10}, []string{"content_type:upload.content_type.not_allowed"}},
		{"no content type", uploads.Request{Purpose: uploads.PurposeAvatar, Size: 10}, []string{"content_type:upload.content_type.required"}},
		{"everything wrong at once", uploads.Request{Purpose: "x", Size: 0}, []string{"content_type:upload.content_type.required", "purpose:upload.purpose.unknown", "size_bytes:upload.size.empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if got := violations(err); !slices.Equal(got, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Validate = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// FuzzSniffAndCheck: no input panics; what passes the check is never an executable, always
// the declared type and always allowed for the purpose.
func FuzzSniffAndCheck(f *testing.F) {
	f.Add("avatar", "image/png", []byte("\x89PNG\r\n\x1a\n"))
	f.Add("credential_document", "application/pdf", []byte("%PDF-1.4"))
	f.Add("avatar", "image/webp", []byte("RIFF\x00\x00\x00\x00WEBP"))
	f.Add("avatar", "image/png", []byte("MZ"))
	f.Fuzz(func(t *testing.T, purpose, declared string, head []byte) {
		sniffed, reason := uploads.Check(uploads.Purpose(purpose), declared, head)
		if reason != "" {
			return
		}
		l, ok := uploads.LimitsFor(uploads.Purpose(purpose))
		if !ok || sniffed == uploads.TypeExecutable || !slices.Contains(l.Types, sniffed) ||
			!strings.EqualFold(strings.TrimSpace(strings.SplitN(declared, ";", 2)[0]), sniffed) {
			t.Fatalf("Check(%q, %q) passed %q", purpose, declared, sniffed)
		}
		_ = uploads.Request{Purpose: uploads.Purpose(purpose), ContentType: declared, Size: int64(len(head))}.Validate()
	})
}
