// Package uploads is the upload pipeline's domain: what may be uploaded for which purpose,
// how a file's real type is told from its bytes, and (with its Service) the upload records
// whose status a scan moves from pending to clean, infected or rejected.
package uploads

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tutorhub/tutorhub"
)

// Purpose says what an upload is for; it decides the allowed types, the size limit, who may
// read the file and what a clean file becomes.
type Purpose string

// The purposes.
const (
	// PurposeAvatar is a user's profile picture: a small image, re-encoded after the scan
	// and shown publicly on the user's profiles.
	PurposeAvatar Purpose = "avatar"
	// PurposeCredentialDocument is a tutor's diploma or certificate: read by its owner and
	// by admins, who review it.
	PurposeCredentialDocument Purpose = "credential_document"
)

// Content types the pipeline knows by their bytes.
const (
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
	TypeWebP = "image/webp"
	TypePDF  = "application/pdf"
)

// Limits are the rules of one purpose.
type Limits struct {
	// Types are the content types allowed, as declared and as sniffed.
	Types []string
	// MaxSize is the largest file in bytes.
	MaxSize int64
}

// Per-purpose limits. MaxSize stays below clamd's StreamMaxLength (64 MiB locally).
var limits = map[Purpose]Limits{
	PurposeAvatar:             {Types: []string{TypePNG, TypeJPEG, TypeWebP}, MaxSize: 5 << 20},
	PurposeCredentialDocument: {Types: []string{TypePDF, TypePNG, TypeJPEG}, MaxSize: 20 << 20},
}

// LimitsFor returns the rules of purpose, and false for an unknown purpose.
func LimitsFor(p Purpose) (Limits, bool) {
	l, ok := limits[p]
	return l, ok
}

// MaxUploadSize is the largest file any purpose accepts.
func MaxUploadSize() int64 {
	var m int64
	for _, l := range limits {
		m = max(m, l.MaxSize)
	}
	return m
}

// Request is what a client declares when it starts an upload.
type Request struct {
	Purpose     Purpose
	ContentType string
	Size        int64
}

// Validate checks a declared upload against its purpose's limits, naming every bad field.
func (r Request) Validate() error {
	var vs []tutorhub.Violation
	l, ok := LimitsFor(r.Purpose)
	if !ok {
		vs = append(vs, tutorhub.Violation{Field: "purpose", Rule: "upload.purpose.unknown",
			Message: fmt.Sprintf("unknown purpose %q; known: avatar, credential_document", truncate(string(r.Purpose)))})
	}
	ct := normalizeType(r.ContentType)
	switch {
	case ct == "":
		vs = append(vs, tutorhub.Violation{Field: "content_type", Rule: "upload.content_type.required", Message: "a content type is required"})
	case ok && !slices.Contains(l.Types, ct):
		vs = append(vs, tutorhub.Violation{Field: "content_type", Rule: "upload.content_type.not_allowed",
			Message: fmt.Sprintf("%q is not allowed for %s; allowed: %s", truncate(r.ContentType), r.Purpose, strings.Join(l.Types, ", "))})
	}
	switch {
	case r.Size <= 0:
		vs = append(vs, tutorhub.Violation{Field: "size_bytes", Rule: "upload.size.empty", Message: "the size must be at least 1 byte"})
	case ok && r.Size > l.MaxSize:
		vs = append(vs, tutorhub.Violation{Field: "size_bytes", Rule: "upload.size.too_large",
			Message: fmt.Sprintf("%d bytes is more than the %d allowed for %s", r.Size, l.MaxSize, r.Purpose)})
	case !ok && r.Size > MaxUploadSize():
		vs = append(vs, tutorhub.Violation{Field: "size_bytes", Rule: "upload.size.too_large",
			Message: fmt.Sprintf("%d bytes is more than any upload may have", r.Size)})
	}
	if len(vs) > 0 {
		return &tutorhub.Error{Code: tutorhub.EINVALID, Message: "invalid upload", Violations: vs}
	}
	return nil
}

// NormalizedType is the declared content type as stored: lower case, without parameters.
func (r Request) NormalizedType() string { return normalizeType(r.ContentType) }

func normalizeType(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(ct))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
