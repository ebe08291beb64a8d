package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"testing"
)

// deepStack recurses through frames of a KiB each, so its goroutine's stack grows to about
// n KiB, as the API's handler chain grows it.
//
//go:noinline
func deepStack(n int) byte {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deepStack(n-1) + pad[n%len(pad)]
}

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// An idle keep-alive connection does not keep the stack its last request grew: with a
// hundred connections each idle after a request that needed 64 KiB of stack, the process
// holds a few KiB of stack per connection, not the request's (which it did when net/http
// ran the handler on the connection's goroutine).
func TestIdleKeepAliveConnectionsHoldNoRequestStack(t *testing.T) {
	srv := httptest.NewServer(requestStacks(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, deepStack(64))
	})))
	defer srv.Close()
	runtime.GC()
	before := stackBytes()
	const conns = 100
	for range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("status %d, close %v: want 200 on a kept connection", res.StatusCode, res.Close)
		}
	}
	// One collection frees the ended requests' stacks; it would only halve a parked one.
	runtime.GC()
	perConn := (int64(stackBytes()) - int64(before)) / conns
	if perConn > 16<<10 {
		t.Errorf("each idle connection holds %d KiB of stack, want at most 16 KiB", perConn>>10)
	}
}

// A panic the chain lets through (http.ErrAbortHandler) still reaches net/http, which
// aborts the response and closes the connection, and the server goes on serving.
func TestRequestStacksRaisesAbortOnTheConnection(t *testing.T) {
	srv := httptest.NewServer(requestStacks(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "ok")
	})))
	defer srv.Close()
	if _, err := srv.Client().Get(srv.URL + "/abort"); err == nil {
		t.Fatal("an aborted request was answered; want the connection closed")
	}
	res, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "ok" {
		t.Errorf("after an abort the server answered %q, want ok", body)
	}
}

// BenchmarkRequestStacks is what running a request on a goroutine of its own adds to one
// that needs a request-sized stack (compare the two sub-benchmarks).
func BenchmarkRequestStacks(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(200 + deepStack(16)%1)) })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"connection goroutine", h}, {"own goroutine", requestStacks(h)}} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
