package main_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// The server serve builds cuts off a client that sends its headers slower than the
// read-header timeout, and closes a keep-alive connection idle for longer than the idle
// timeout.
func TestServeEnforcesHeaderAndIdleTimeouts(t *testing.T) {
	t.Parallel()
	const headerTimeout, idleTimeout = 400 * time.Millisecond, 800 * time.Millisecond
	p := startServe(t, baseEnv(testenv.DatabaseURL(t),
		"TUTORHUB_HTTP_READ_HEADER_TIMEOUT="+headerTimeout.String(),
		"TUTORHUB_HTTP_READ_TIMEOUT=10s",
		"TUTORHUB_HTTP_IDLE_TIMEOUT="+idleTimeout.String(),
	))
	eventually(t, 60*time.Second, "/health answers 200", func() bool { return getStatus("http://"+p.addr+"/health") == 200 })

	t.Run("headers sent byte by byte", func(t *testing.T) {
		t.Parallel()
		// The server's header clock starts when it accepts the connection, which may be
		// before Dial returns here: time from before the dial.
		start := time.Now()
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		request := "GET /health HTTP/1.1\r\nHost: " + p.addr + "\r\nUser-Agent: slowloris\r\nAccept: */*\r\n\r\n"
		// One byte every 50 ms: the whole header would take seconds.
		sent := make(chan int, 1)
		go func() {
			n := 0
			for ; n < len(request); n++ {
				if _, err := conn.Write([]byte{request[n]}); err != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			sent <- n
		}()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(conn)
		cut := time.Since(start)
		if err != nil && !isConnReset(err) {
			t.Fatalf("reading from a connection the server should close: %v", err)
		}
		if strings.Contains(string(b), "200 OK") {
			t.Fatalf("a request trickled in slower than the header timeout was served: %q", b)
		}
		if cut < headerTimeout || cut > headerTimeout+3*time.Second {
			t.Fatalf("connection closed after %v, want soon after the %v header timeout", cut, headerTimeout)
		}
		conn.Close()
		if n := <-sent; n >= len(request) {
			t.Fatalf("the whole request (%d bytes) went out before the server cut it off", n)
		}
	})

	t.Run("idle keep-alive connection", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: "+p.addr+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(conn)
		res, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Close {
			t.Fatalf("first request: %d, close=%v", res.StatusCode, res.Close)
		}
		idleFrom := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = rd.ReadByte()
		closed := time.Since(idleFrom)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle connection still open after %v (read: %v)", closed, err)
		}
		if closed < idleTimeout/2 || closed > idleTimeout+3*time.Second {
			t.Fatalf("idle connection closed after %v, want about the %v idle timeout", closed, idleTimeout)
		}
	})
}

func isConnReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}
