package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tutorhub/tutorhub/server"
)

// gzipBomb is a small gzip body that inflates to n MiB of zeros: one member of 1 MiB of
// zeros (about 1 KiB compressed) repeated, which gzip readers inflate as one stream.
var gzipBomb = sync.OnceValue(func() []byte {
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), bombMiB)
})

// bombMiB is how far the bomb inflates, in MiB.
const bombMiB = 256

// grpcFrame wraps a compressed message in the gRPC length-prefixed envelope.
func grpcFrame(compressed []byte) []byte {
	frame := make([]byte, 5, 5+len(compressed))
	frame[0] = 1 // compressed
	binary.BigEndian.PutUint32(frame[1:], uint32(len(compressed)))
	return append(frame, compressed...)
}

// allocatedDuring is how many bytes the whole process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecompressionBombsAreRefused sends, over every protocol, a body of about 260 KiB that
// inflates to 256 MiB, and expects a clean refusal while the process allocates little more
// than the 1 MiB body limit. Not parallel: the allocation counter is process-wide.
func TestDecompressionBombsAreRefused(t *testing.T) {
	const limit = 1 << 20
	// Buffers of the client, the HTTP/2 transport and the server (which grow by doubling to
	// twice the limit, and are pooled less under the race detector): far from the 256 MiB a
	// decompressor without a limit allocates.
	const slack = 16 << 20
	api := newTestAPI(t, func(o *server.Options) { o.MaxBodyBytes = limit })
	bomb := gzipBomb()
	if len(bomb) >= limit {
		t.Fatalf("the bomb (%d bytes) must fit under the body limit", len(bomb))
	}
	cases := []struct {
		name    string
		client  *http.Client
		path    string
		header  map[string]string
		body    []byte
		refused func(res *http.Response, body []byte) bool
	}{
		{
			name: "REST with Content-Encoding gzip is 413 in the JSON error shape", client: http.DefaultClient,
			path:   "/api/v1/auth/login?x=1",
			header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"},
			body:   bomb,
			refused: func(res *http.Response, body []byte) bool {
				return res.StatusCode == http.StatusRequestEntityTooLarge && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") &&
					bytes.Contains(body, []byte(`"code":"resource_exhausted"`))
			},
		},
		{
			name: "Connect unary with Content-Encoding gzip is resource_exhausted", client: http.DefaultClient,
			path:   "/tutorhub.v1.SubjectService/ListSubjects",
			header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"},
			body:   bomb,
			refused: func(res *http.Response, body []byte) bool {
				return res.StatusCode == http.StatusTooManyRequests && bytes.Contains(body, []byte(`"code":"resource_exhausted"`))
			},
		},
		{
			name: "gRPC message compressed with grpc-encoding gzip is RESOURCE_EXHAUSTED", client: h2cClient(),
			path:   "/tutorhub.v1.SubjectService/ListSubjects",
			header: map[string]string{"Content-Type": "application/grpc", "Grpc-Encoding": "gzip", "Te": "trailers"},
			body:   grpcFrame(bomb),
			refused: func(res *http.Response, _ []byte) bool {
				return res.Header.Get("Grpc-Status") == "8" || res.Trailer.Get("Grpc-Status") == "8"
			},
		},
		{
			name: "gRPC-Web message compressed with grpc-encoding gzip is RESOURCE_EXHAUSTED", client: http.DefaultClient,
			path:   "/tutorhub.v1.SubjectService/ListSubjects",
			header: map[string]string{"Content-Type": "application/grpc-web+proto", "Grpc-Encoding": "gzip"},
			body:   grpcFrame(bomb),
			refused: func(res *http.Response, body []byte) bool {
				return res.Header.Get("Grpc-Status") == "8" || bytes.Contains(body, []byte("grpc-status: 8")) || bytes.Contains(body, []byte("grpc-status:8"))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var res *http.Response
			var body []byte
			allocated := allocatedDuring(func() {
				req, err := http.NewRequest(http.MethodPost, api.URL+tc.path, bytes.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				res, err = tc.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err = io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
			})
			if !tc.refused(res, body) {
				t.Errorf("not refused: %d %v %v %q", res.StatusCode, res.Header, res.Trailer, body)
			}
			t.Logf("allocated %.1f MiB", float64(allocated)/(1<<20))
			// Connect reports an oversized message's full size when it inflates all of it;
			// the server must stop at the limit instead of spending the CPU.
			fullSize := strconv.Itoa(bombMiB << 20)
			if strings.Contains(string(body), fullSize) || strings.Contains(res.Header.Get("Grpc-Message"), fullSize) || strings.Contains(res.Trailer.Get("Grpc-Message"), fullSize) {
				t.Errorf("the server inflated the whole bomb to measure it: %q %v", body, res.Trailer)
			}
			if allocated > limit+slack {
				t.Errorf("the process allocated %.1f MiB for a %d KiB body limited to %d KiB", float64(allocated)/(1<<20), len(tc.body)>>10, limit>>10)
			}
		})
	}
}

// TestRefusedBombKeepsTheHTTP2Connection: over HTTP/2 (a proxy's connection, shared by many
// clients) a refused body resets one stream, not the connection.
func TestRefusedBombKeepsTheHTTP2Connection(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t) // 64 KiB limit
	client := h2cClient()
	bomb := gzipBomb()[:32*len(gzipBomb())/bombMiB] // 32 whole members: 32 MiB from about 33 KiB
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/api/v1/auth/login", bytes.NewReader(bomb))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("bomb over HTTP/2: %d", res.StatusCode)
	}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, _ = http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, api.URL+"/health", nil)
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !reused {
		t.Fatal("the refusal closed the HTTP/2 connection")
	}
}
