package clamd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/clamd"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestPingAndVersion(t *testing.T) {
	t.Parallel()
	c := testenv.Clamd(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "ClamAV 1.") {
		t.Errorf("Version = %q, want ClamAV 1.x", v)
	}
}

func TestScanFindsEICARInAnyChunking(t *testing.T) {
	t.Parallel()
	c := testenv.Clamd(t)
	for _, chunk := range []int{1, 7, 64, 1 << 16} {
		c := *c
		c.ChunkSize = chunk
		// Padding before the test file: a content signature must match across chunk edges.
		v, err := c.Scan(context.Background(), strings.NewReader(strings.Repeat("a", 100)+testenv.EICAR))
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !v.Infected || v.Signature == "" {
			t.Errorf("chunk %d: verdict %+v, want infected", chunk, v)
		}
	}
}

func TestScanCleanStream(t *testing.T) {
	t.Parallel()
	c := testenv.Clamd(t)
	for _, body := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 300_000)} {
		v, err := c.Scan(context.Background(), bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%d bytes: %v", len(body), err)
		}
		if v.Infected {
			t.Errorf("%d bytes: verdict %+v, want clean", len(body), v)
		}
	}
}

// Every file of the clamav-testfiles package is detected by the local database (its hashes).
func TestScanEveryClamavTestFile(t *testing.T) {
	t.Parallel()
	c := testenv.Clamd(t)
	files, err := os.ReadDir(testenv.ClamavTestFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d files in %s", len(files), testenv.ClamavTestFiles)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(testenv.ClamavTestFiles, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Scan(context.Background(), bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", f.Name(), err)
			continue
		}
		if !v.Infected {
			t.Errorf("%s: not detected", f.Name())
		}
	}
}

func TestScanRefusesMoreThanMaxSize(t *testing.T) {
	t.Parallel()
	c := *testenv.Clamd(t)
	c.MaxSize = 1000
	c.ChunkSize = 300
	if _, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, 1001))); !errors.Is(err, clamd.ErrTooLarge) {
		t.Fatalf("1001 bytes with MaxSize 1000: err %v, want ErrTooLarge", err)
	}
	if v, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, 1000))); err != nil || v.Infected {
		t.Fatalf("1000 bytes with MaxSize 1000: %+v, %v; want clean", v, err)
	}
}

// A clamd that accepts and never answers: the call ends at Timeout, and at the context's end.
func TestScanTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	c := &clamd.Client{Address: ln.Addr().String(), Timeout: 300 * time.Millisecond}
	start := time.Now()
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); err == nil {
		t.Fatal("Scan against a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Scan took %v with Timeout 300ms", d)
	}
	c.Timeout = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("Ping against a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Ping took %v with a 300ms context", d)
	}
}

func TestDialFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &clamd.Client{Address: addr, Timeout: time.Second}
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); err == nil {
		t.Fatal("Scan with nothing listening succeeded")
	}
}

func TestParseScanReply(t *testing.T) {
	cases := []struct {
		reply   string
		want    clamd.Verdict
		wantErr error // nil: no error; a *ReplyError is matched by type
	}{
		{"stream: OK", clamd.Verdict{}, nil},
		{"stream: OK\n", clamd.Verdict{}, nil},
		{"stream: Eicar-Signature FOUND", clamd.Verdict{Infected: true, Signature: "Eicar-Signature"}, nil},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", clamd.Verdict{Infected: true, Signature: "Win.Test.EICAR_HDB-1"}, nil},
		{"INSTREAM size limit exceeded. ERROR", clamd.Verdict{}, clamd.ErrTooLarge},
		{"stream: Can't allocate memory ERROR", clamd.Verdict{}, &clamd.ReplyError{}},
		{"stream: FOUND", clamd.Verdict{}, &clamd.ReplyError{}},
		{"stream:  FOUND", clamd.Verdict{}, &clamd.ReplyError{}},
		{"stream: ok", clamd.Verdict{}, &clamd.ReplyError{}},
		{"OK", clamd.Verdict{}, &clamd.ReplyError{}},
		{"", clamd.Verdict{}, &clamd.ReplyError{}},
		{"PONG", clamd.Verdict{}, &clamd.ReplyError{}},
	}
	for _, tc := range cases {
		t.Run(tc.reply, func(t *testing.T) {
			got, err := clamd.ParseScanReply(tc.reply)
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil || got != tc.want {
					t.Errorf("= %+v, %v; want %+v", got, err, tc.want)
				}
			case *clamd.ReplyError:
				var re *clamd.ReplyError
				if !errors.As(err, &re) {
					t.Errorf("err %v, want a ReplyError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("err %v, want %v", err, want)
				}
			}
		})
	}
}

// FuzzParseScanReply: no reply panics; a clean verdict comes only from exactly "stream: OK";
// an infected verdict names a signature that appears in the reply.
func FuzzParseScanReply(f *testing.F) {
	for _, s := range []string{"stream: OK", "stream: Eicar-Signature FOUND", "INSTREAM size limit exceeded. ERROR", "stream: x ERROR", "", "stream: ", "stream:  FOUND"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		v, err := clamd.ParseScanReply(reply)
		if err != nil {
			if v != (clamd.Verdict{}) {
				t.Fatalf("error %v with verdict %+v", err, v)
			}
			return
		}
		if !v.Infected {
			if strings.TrimRight(reply, "\n") != "stream: OK" {
				t.Fatalf("clean verdict from %q", reply)
			}
			return
		}
		if v.Signature == "" || !strings.Contains(reply, v.Signature) || strings.ContainsAny(v.Signature, "\x00\n") {
			t.Fatalf("infected verdict %+v from %q", v, reply)
		}
	})
}
