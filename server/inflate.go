package server

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"
)

// errInflatedTooLarge is a body or message that is, or inflates to, more than the body limit.
var errInflatedTooLarge = errors.New("inflated body too large")

// inflateGzip returns the inflated content of the gzip stream body, reading at most limit+1
// inflated bytes, so a small body that would inflate to gigabytes costs at most about limit
// bytes of memory and the CPU to inflate them.
func inflateGzip(body io.Reader, limit int64) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	zr, err := gzip.NewReader(body)
	if errors.Is(err, io.EOF) {
		return nil, nil // an empty body, labelled gzip
	}
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readBounded(zr, limit)
}

// readBounded reads all of body, or fails with errInflatedTooLarge past limit bytes.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	out, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, errInflatedTooLarge
	}
	return out, nil
}

// boundedGzip is the gzip decompressor of the Connect, gRPC and gRPC-Web handlers. Connect
// already stops buffering a message at the read limit, but then inflates the rest of it to
// report its size; this decompressor fails instead once a message has inflated one byte
// past the limit, so an oversized message costs no more CPU than a message at the limit.
type boundedGzip struct {
	zr    gzip.Reader
	limit int64 // inflated bytes a message may have
	n     int64 // inflated bytes read from the current message
}

// newBoundedGzip returns a constructor of decompressors that refuse to inflate a message
// past limit bytes (limit+1 bytes are produced, so the caller can tell "too large" apart).
func newBoundedGzip(limit int64) func() connect.Decompressor {
	return func() connect.Decompressor { return &boundedGzip{limit: limit} }
}

func (b *boundedGzip) Read(p []byte) (int, error) {
	if b.limit > 0 && b.n > b.limit {
		return 0, fmt.Errorf("message inflates past %d bytes: %w", b.limit, errInflatedTooLarge)
	}
	if b.limit > 0 && int64(len(p)) > b.limit+1-b.n {
		p = p[:b.limit+1-b.n]
	}
	n, err := b.zr.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *boundedGzip) Close() error { return b.zr.Close() }

func (b *boundedGzip) Reset(r io.Reader) error {
	b.n = 0
	return b.zr.Reset(r)
}

// gzipCompressor is the handlers' gzip compressor for responses, as Connect's default.
func gzipCompressor() connect.Compressor { return gzip.NewWriter(io.Discard) }
