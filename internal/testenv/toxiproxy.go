package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// The private Toxiproxy of this test binary: started on first use on a free port, killed
// with the binary (it is its child with a parent-death signal).
var (
	toxiOnce   sync.Once
	toxiClient *toxiproxy.Client
	toxiErr    error
)

// toxiproxyServer returns TUTORHUB_TEST_TOXIPROXY, else the clone's .bin/toxiproxy-server that
// deploy/tools.sh links.
func toxiproxyServer(t testing.TB) (string, error) {
	path := os.Getenv("TUTORHUB_TEST_TOXIPROXY")
	if path == "" {
		path = filepath.Join(RepoRoot(t), ".bin", "toxiproxy-server")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("toxiproxy-server is not at %s (build it with deploy/tools.sh toxiproxy-server): %w", path, err)
	}
	return path, nil
}

func startToxiproxy(t testing.TB) (*toxiproxy.Client, error) {
	bin, err := toxiproxyServer(t)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(endpoint + "/version")
		if err == nil {
			res.Body.Close()
			return toxiproxy.NewClient(endpoint), nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("toxiproxy did not answer on %s within 20s: %w", endpoint, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Fault is a Toxiproxy proxy of one test in front of a shared service: the test reaches the
// service at Addr and injects faults there, so the service itself and every other test are
// untouched. The proxy is deleted when the test ends.
type Fault struct {
	t     testing.TB
	proxy *toxiproxy.Proxy
	// Addr is the proxy's host:port.
	Addr string
	n    int
}

// NewFault starts (once per test binary) a private Toxiproxy and returns a proxy of this
// test to upstream (host:port). Without the toxiproxy-server binary the test fails under
// CI=true and is skipped elsewhere.
func NewFault(t testing.TB, upstream string) *Fault {
	t.Helper()
	toxiOnce.Do(func() { toxiClient, toxiErr = startToxiproxy(t) })
	if toxiErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(toxiErr)
		}
		t.Skip(toxiErr)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "_" + RandomID()
	// A fixed port: a disabled proxy listens on it again when enabled (port 0 would move).
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := toxiClient.CreateProxy(name, fmt.Sprintf("127.0.0.1:%d", port), upstream)
	if err != nil {
		t.Fatalf("toxiproxy: create proxy to %s: %v", upstream, err)
	}
	t.Cleanup(func() { _ = p.Delete() })
	return &Fault{t: t, proxy: p, Addr: p.Listen}
}

// Latency delays every chunk of the service's answers by d.
func (f *Fault) Latency(d time.Duration) {
	f.t.Helper()
	f.add("latency", toxiproxy.Attributes{"latency": d.Milliseconds()})
}

// Hang lets connections open but passes no data, as a service that hangs does; a
// connection is closed after closeAfter (0: never).
func (f *Fault) Hang(closeAfter time.Duration) {
	f.t.Helper()
	f.add("timeout", toxiproxy.Attributes{"timeout": closeAfter.Milliseconds()})
}

// Reset resets every connection (TCP RST) after d of its life.
func (f *Fault) Reset(d time.Duration) {
	f.t.Helper()
	f.add("reset_peer", toxiproxy.Attributes{"timeout": d.Milliseconds()})
}

func (f *Fault) add(kind string, attrs toxiproxy.Attributes) {
	f.t.Helper()
	f.n++
	if _, err := f.proxy.AddToxic(fmt.Sprintf("%s_%d", kind, f.n), kind, "downstream", 1, attrs); err != nil {
		f.t.Fatalf("toxiproxy: add %s: %v", kind, err)
	}
}

// Clear removes every toxic: the service answers normally again.
func (f *Fault) Clear() {
	f.t.Helper()
	toxics, err := f.proxy.Toxics()
	if err != nil {
		f.t.Fatalf("toxiproxy: list toxics: %v", err)
	}
	for _, x := range toxics {
		if err := f.proxy.RemoveToxic(x.Name); err != nil {
			f.t.Fatalf("toxiproxy: remove %s: %v", x.Name, err)
		}
	}
}

// Stop makes the service unreachable, as if it had stopped: open connections are closed and
// new ones refused.
func (f *Fault) Stop() {
	f.t.Helper()
	if err := f.proxy.Disable(); err != nil {
		f.t.Fatalf("toxiproxy: disable: %v", err)
	}
}

// Start makes the service reachable again after Stop, as if it had restarted.
func (f *Fault) Start() {
	f.t.Helper()
	if err := f.proxy.Enable(); err != nil {
		f.t.Fatalf("toxiproxy: enable: %v", err)
	}
}

// URL returns rawURL (a database, Redis or HTTP URL) with its host:port replaced by the
// proxy's.
func (f *Fault) URL(rawURL string) string {
	f.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		f.t.Fatal(err)
	}
	u.Host = f.Addr
	return u.String()
}

// upstreamOf returns the host:port of rawURL.
func upstreamOf(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host == "" {
		t.Fatal(errors.New("no host in " + rawURL))
	}
	return u.Host
}

// RedisFault is a proxy of this test in front of the shared Redis.
func RedisFault(t testing.TB) *Fault {
	t.Helper()
	return NewFault(t, upstreamOf(t, RedisURL()))
}

// PostgresFault is a proxy of this test in front of the shared PostgreSQL; reach dbURL (a
// URL from DatabaseURL) through it with Fault.URL.
func PostgresFault(t testing.TB) *Fault {
	t.Helper()
	return NewFault(t, upstreamOf(t, AdminDatabaseURL()))
}

// KratosFault is a proxy of this test in front of the shared Kratos's public API.
func KratosFault(t testing.TB) *Fault {
	t.Helper()
	return NewFault(t, upstreamOf(t, KratosPublicURL()))
}
