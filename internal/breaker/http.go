package breaker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// NewHTTPTransport is a transport of its own for a guarded client, with http.DefaultTransport's
// settings and a dial bounded by dialTimeout. It is not a clone of http.DefaultTransport, which
// a program may have replaced by a RoundTripper that is not an *http.Transport (a test's
// recorder, a tracer).
func NewHTTPTransport(dialTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Transport puts b in front of every request of an HTTP client (Kratos, S3, the search
// engine): while b is open a request fails at once with an *OpenError, without dialling.
// Transport errors, timeouts and the answers 502, 503 and 504 count as failures; any other
// answer is the dependency working.
func Transport(b *Breaker, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return transport{b: b, next: next}
}

type transport struct {
	b    *Breaker
	next http.RoundTripper
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.b.Allow(); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	res, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		// The caller giving up is not the dependency failing.
		t.b.Done(!(errors.Is(err, context.Canceled) && req.Context().Err() != nil))
	default:
		t.b.Done(res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusGatewayTimeout)
	}
	return res, err
}
