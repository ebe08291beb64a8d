package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"

	"github.com/tutorhub/tutorhub/accounts"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/logging"
	"github.com/tutorhub/tutorhub/internal/ratelimit"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// Procedures of a streaming service that exists only in this test, declared in the test's
// access rules, served through the API's own interceptors and edge.
const (
	streamPublic    = "/tutorhub.test.v1.StreamTestService/WatchPublic"
	streamProtected = "/tutorhub.test.v1.StreamTestService/WatchProtected"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newStreamServer serves the two test procedures (server streams echoing the requested id
// twice) behind the chain newInterceptors builds, with an address budget of anonymous.
func newStreamServer(t *testing.T, anonymous ratelimit.Rate) (string, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	log := logging.New(logs, slog.LevelDebug, "json", nil)
	rdb, prefix := testenv.Redis(t)
	tokens, err := accesstoken.NewVerifier(accesstoken.Options{JWKSPath: testenv.KratosJWKSPath(t), Issuer: testenv.KratosIssuer(), Audience: "tutorhub"})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Logger:     log,
		Limiter:    ratelimit.New(rdb, prefix, false, log),
		RateLimits: RateLimits{Enabled: true, Anonymous: anonymous, Authenticated: anonymous},
		Auth:       AuthOptions{Tokens: tokens, Revocations: accesstoken.NewRevocations(rdb, prefix, time.Minute, nil)},
	}
	interceptors, err := newInterceptors(o, map[string]Rule{streamPublic: {Who: Public, ServiceAccounts: NoServiceAccounts}, streamProtected: {Who: Authenticated, ServiceAccounts: NoServiceAccounts}}, accounts.New(nil, accounts.Options{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	echo := func(_ context.Context, req *connect.Request[tutorhubv1.GetSubjectRequest], stream *connect.ServerStream[tutorhubv1.Subject]) error {
		for range 2 {
			if err := stream.Send(&tutorhubv1.Subject{Id: req.Msg.GetId()}); err != nil {
				return err
			}
		}
		return nil
	}
	mux := http.NewServeMux()
	for _, proc := range []string{streamPublic, streamProtected} {
		mux.Handle(proc, connect.NewServerStreamHandler(proc, echo, connect.WithInterceptors(interceptors...)))
	}
	e := &edge{log: log, maxBodyBytes: 1 << 20}
	srv := httptest.NewUnstartedServer(e.wrap(mux))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

// watch opens a stream and reads it to the end, returning the messages and the stream's error.
func watch(t *testing.T, url, proc, id string, grpc bool, opts ...connect.ClientOption) ([]*tutorhubv1.Subject, error) {
	t.Helper()
	hc := http.DefaultClient
	if grpc {
		// gRPC needs HTTP/2, spoken here without TLS.
		hc = &http.Client{Transport: &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}}
		opts = append(opts, connect.WithGRPC())
	}
	c := connect.NewClient[tutorhubv1.GetSubjectRequest, tutorhubv1.Subject](hc, url+proc, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.CallServerStream(ctx, connect.NewRequest(&tutorhubv1.GetSubjectRequest{Id: id}))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var got []*tutorhubv1.Subject
	for stream.Receive() {
		got = append(got, stream.Msg())
	}
	return got, stream.Err()
}

// accessLine waits for the nth (from 1) access log line of proc and returns its code.
func accessLine(t *testing.T, logs *lockedBuffer, proc string, nth int) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var codes []string
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" || m["procedure"] != proc {
				continue
			}
			code, _ := m["code"].(string)
			codes = append(codes, code)
		}
		if len(codes) >= nth {
			return codes[nth-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line %d for %s in:\n%s", nth, proc, logs.String())
		}
	}
}

func TestInterceptorsApplyToStreams(t *testing.T) {
	t.Parallel()
	const id = "6a2f1a0e-9b4e-4b43-9c43-2c3e0f0b7e11"
	roomy := ratelimit.Rate{Limit: 1000, Period: time.Minute}
	for _, proto := range []struct {
		name string
		grpc bool
	}{{"connect", false}, {"grpc", true}} {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name      string
				anonymous ratelimit.Rate
				proc, id  string
				header    string
				before    int // streams opened first, to spend a budget
				want      connect.Code
			}{
				{name: "a valid anonymous stream to a public procedure flows", anonymous: roomy, proc: streamPublic, id: id},
				{name: "an unauthenticated stream to a protected procedure is refused", anonymous: roomy, proc: streamProtected, id: id, want: connect.CodeUnauthenticated},
				{name: "a bad access token is refused on a protected stream", anonymous: roomy, proc: streamProtected, id: id, header: "Bearer not-a-token", want: connect.CodeUnauthenticated},
				{name: "a bad access token on a public stream runs as anonymous", anonymous: roomy, proc: streamPublic, id: id, header: "Bearer not-a-token"},
				{name: "an invalid message ends the stream with InvalidArgument", anonymous: roomy, proc: streamPublic, id: "not-a-uuid", want: connect.CodeInvalidArgument},
				{name: "a spent address budget refuses the stream", anonymous: ratelimit.Rate{Limit: 2, Period: time.Minute}, proc: streamPublic, id: id, before: 2, want: connect.CodeResourceExhausted},
			} {
				t.Run(tc.name, func(t *testing.T) {
					url, logs := newStreamServer(t, tc.anonymous)
					var opts []connect.ClientOption
					if tc.header != "" {
						opts = append(opts, connect.WithInterceptors(streamHeader(tc.header)))
					}
					for i := 0; i < tc.before; i++ {
						if _, err := watch(t, url, tc.proc, tc.id, proto.grpc, opts...); err != nil {
							t.Fatalf("stream %d before the budget is spent: %v", i, err)
						}
					}
					got, err := watch(t, url, tc.proc, tc.id, proto.grpc, opts...)
					if tc.want == 0 {
						if err != nil || len(got) != 2 || got[0].GetId() != tc.id {
							t.Fatalf("stream = %v, %v; want two messages", got, err)
						}
						if code := accessLine(t, logs, tc.proc, tc.before+1); code != "ok" {
							t.Fatalf("access log code %q, want ok", code)
						}
						return
					}
					var ce *connect.Error
					if !errors.As(err, &ce) || ce.Code() != tc.want {
						t.Fatalf("stream error = %v, want %v", err, tc.want)
					}
					if len(got) != 0 {
						t.Fatalf("a refused stream delivered %d messages", len(got))
					}
					if code := accessLine(t, logs, tc.proc, tc.before+1); code != tc.want.String() {
						t.Fatalf("access log code %q, want %q", code, tc.want.String())
					}
				})
			}
		})
	}
}

// streamHeader sets Authorization on streaming calls (connect.UnaryInterceptorFunc only
// reaches unary ones).
type streamHeader string

func (h streamHeader) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (h streamHeader) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", string(h))
		return conn
	}
}

func (h streamHeader) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
