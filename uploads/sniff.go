package uploads

import (
	"bytes"
	"net/http"
)

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 512

// Sniffed content types beyond the ones uploads accept: what a rejection names.
const (
	TypeExecutable = "application/x-executable"
	TypeUnknown    = "application/octet-stream"
)

// Sniff tells a file's content type from its first bytes (at most SniffLen are read):
// PNG, JPEG, WebP and PDF by their signatures; Windows PE/DOS, ELF, Mach-O and shell-script
// executables as TypeExecutable; anything else as net/http.DetectContentType says, without
// parameters. It never trusts a declared type or a file name.
func Sniff(head []byte) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return TypeJPEG
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return TypeWebP
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return TypePDF
	case isExecutable(head):
		return TypeExecutable
	}
	return normalizeType(http.DetectContentType(head))
}

func isExecutable(b []byte) bool {
	for _, magic := range [][]byte{
		[]byte("MZ"),             // DOS and Windows PE
		[]byte("\x7fELF"),        // ELF
		{0xFE, 0xED, 0xFA, 0xCE}, // Mach-O 32
		{0xFE, 0xED, 0xFA, 0xCF}, // Mach-O 64
		{0xCE, 0xFA, 0xED, 0xFE}, // Mach-O 32, little-endian
		{0xCF, 0xFA, 0xED, 0xFE}, // Mach-O 64, little-endian
		{0xCA, 0xFE, 0xBA, 0xBE}, // Mach-O universal (and Java class files)
		[]byte("#!"),             // scripts
		{0x00, 0x61, 0x73, 0x6D}, // WebAssembly
	} {
		if bytes.HasPrefix(b, magic) {
			return true
		}
	}
	return false
}

// Check is the scan's verdict on a file's type: "" when the sniffed type is the declared one
// and allowed for the purpose, else a reason to show the uploader.
func Check(p Purpose, declared string, head []byte) (sniffed, reason string) {
	sniffed = Sniff(head)
	l, ok := LimitsFor(p)
	switch {
	case !ok:
		return sniffed, "unknown purpose"
	case sniffed == TypeExecutable:
		return sniffed, "the file is an executable program"
	case sniffed != normalizeType(declared):
		return sniffed, "the file's content is " + sniffed + ", not the declared " + normalizeType(declared)
	}
	for _, t := range l.Types {
		if t == sniffed {
			return sniffed, ""
		}
	}
	return sniffed, sniffed + " is not allowed for " + string(p)
}
