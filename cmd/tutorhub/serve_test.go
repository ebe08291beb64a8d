package main_test

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestInternalListener starts serve with an internal address: /metrics moves there, the API's
// port keeps /health and /ready, and SIGTERM drains and closes both listeners: the process
// exits 0 only when both shut down cleanly.
func TestInternalListener(t *testing.T) {
	t.Parallel()
	p := startServe(t, baseEnv(testenv.DatabaseURL(t), "TUTORHUB_HTTP_INTERNAL_ADDR=127.0.0.1:0", "TUTORHUB_HTTP_READY_DRAIN_DELAY=1s"))
	base := "http://" + p.addr
	var internalAddr string
	eventually(t, 10*time.Second, "the internal listener's address is logged", func() bool {
		for _, l := range p.Logs() {
			if l["msg"] == "serving internal endpoints" {
				internalAddr, _ = l["addr"].(string)
			}
		}
		return internalAddr != ""
	})
	internal := "http://" + internalAddr
	eventually(t, 60*time.Second, "/ready answers 200 on the internal port", func() bool { return getStatus(internal+"/ready") == 200 })
	for url, want := range map[string]int{
		base + "/metrics":     http.StatusNotFound,
		base + "/health":      http.StatusOK,
		base + "/ready":       http.StatusOK,
		internal + "/metrics": http.StatusOK,
		internal + "/health":  http.StatusOK,
	} {
		if got := getStatus(url); got != want {
			t.Errorf("GET %s: %d, want %d", url, got, want)
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the internal /ready reports draining", func() bool {
		return getStatus(internal+"/ready") == http.StatusServiceUnavailable
	})
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit after SIGTERM")
	}
	for _, addr := range []string{p.addr, internalAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after shutdown", addr)
		}
	}
}
