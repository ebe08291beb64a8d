package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/net/http2"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/notifications"
)

// watchEnv serves NotificationService through the API's observe and validation
// interceptors, with callers named by a test header (unary and streaming alike) instead of
// access tokens, over h2c, with a running hub: for many watchers without as many sign-ins.
type watchEnv struct {
	db     *pgxpool.Pool
	svc    *notifications.Service
	hub    *notifications.Hub
	client tutorhubv1connect.NotificationServiceClient
}

func newWatchEnv(tb testing.TB, maxPerUser int) *watchEnv {
	tb.Helper()
	db := testenv.Postgres(tb)
	svc := notifications.New(db, notifications.Options{})
	hub := notifications.NewHub(db, svc, notifications.HubOptions{MaxPerUser: maxPerUser, ListenURL: testenv.ListenURL(db)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hub.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-hub.Ready()
	v, err := protovalidate.New()
	if err != nil {
		tb.Fatal(err)
	}
	callers := aroundCall(func(ctx context.Context, _ connect.Spec, h http.Header, next func(context.Context) error) error {
		if id := h.Get(testCallerHeader); id != "" {
			ctx = WithCaller(ctx, &Caller{UserID: id, Roles: []string{"student"}})
		}
		return next(ctx)
	})
	log := slog.New(slog.DiscardHandler)
	path, h := tutorhubv1connect.NewNotificationServiceHandler(
		NewNotificationServer(svc, pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef")), NotificationOptions{Hub: hub, Heartbeat: time.Minute}),
		connect.WithInterceptors(observe(log), callers, validateRequests(v)))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	tb.Cleanup(srv.Close)
	client := &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}}
	return &watchEnv{db: db, svc: svc, hub: hub, client: tutorhubv1connect.NewNotificationServiceClient(client, srv.URL, connect.WithInterceptors(callerFromContext{}))}
}

// users stores n users at once.
func (e *watchEnv) users(tb testing.TB, n int) []uuid.UUID {
	tb.Helper()
	ids := make([]uuid.UUID, n)
	texts := make([]string, n)
	for i := range ids {
		ids[i] = uuid.New()
		texts[i] = ids[i].String()
	}
	if _, err := e.db.Exec(context.Background(),
		`INSERT INTO users (id, email) SELECT id::uuid, id || '@watch.test' FROM unnest($1::text[]) AS id`, texts); err != nil {
		tb.Fatal("insert users")
	}
	return ids
}

// watchAll opens one stream per user, waits for each stream's first message, and returns a
// channel that receives, per user, the time its first pushed notification arrived.
func (e *watchEnv) watchAll(tb testing.TB, ctx context.Context, users []uuid.UUID) <-chan time.Time {
	tb.Helper()
	got := make(chan time.Time, len(users))
	var opened sync.WaitGroup
	opened.Add(len(users))
	errs := make(chan error, len(users))
	for _, u := range users {
		go func() {
			stream, err := e.client.WatchNotifications(withCallerHeader(ctx, u), &tutorhubv1.WatchNotificationsRequest{})
			if err != nil {
				errs <- err
				opened.Done()
				return
			}
			defer stream.Close()
			first := true
			for stream.Receive() {
				if first {
					first = false
					opened.Done()
					continue
				}
				if stream.Msg().GetNotification() != nil {
					got <- time.Now()
					return
				}
			}
			if first {
				errs <- fmt.Errorf("stream of %s: %w", u, stream.Err())
				opened.Done()
			}
		}()
	}
	opened.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	return got
}

type callerHeaderKey struct{}

// withCallerHeader makes the streaming client send user as the test caller.
func withCallerHeader(ctx context.Context, user uuid.UUID) context.Context {
	return context.WithValue(ctx, callerHeaderKey{}, user.String())
}

// callerFromContext sends the context's test caller on unary and streaming calls.
type callerFromContext struct{}

func (callerFromContext) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if id, ok := ctx.Value(callerHeaderKey{}).(string); ok {
			req.Header().Set(testCallerHeader, id)
		}
		return next(ctx, req)
	}
}

func (callerFromContext) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if id, ok := ctx.Value(callerHeaderKey{}).(string); ok {
			conn.RequestHeader().Set(testCallerHeader, id)
		}
		return conn
	}
}

func (callerFromContext) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// deliverAll puts one new item in each user's inbox, 8 at a time, and returns when the last
// insert committed and when the first started.
func (e *watchEnv) deliverAll(tb testing.TB, users []uuid.UUID) time.Time {
	tb.Helper()
	start := time.Now()
	work := make(chan uuid.UUID)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for u := range work {
				n := notifications.Notice{EventID: uuid.New(), EventType: "test", Category: notifications.CategorySecurity,
					Kind: "password_changed", Recipients: []uuid.UUID{u}, OccurredAt: time.Now()}
				if _, err := e.svc.DeliverInbox(context.Background(), n, u); err != nil {
					tb.Error(err)
				}
			}
		})
	}
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	return start
}

// TestThousandWatchersEachGetTheirItem holds 1,000 users' streams open while each user's
// notice fans out: every watcher gets its own item, within a bounded time.
func TestThousandWatchersEachGetTheirItem(t *testing.T) {
	t.Parallel()
	const n = 1000
	e := newWatchEnv(t, 1)
	users := e.users(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := e.watchAll(t, ctx, users)
	if held := e.hub.Count(); held != n {
		t.Fatalf("the hub holds %d streams, want %d", held, n)
	}
	start := e.deliverAll(t, users)
	deadline := time.After(60 * time.Second)
	var lat []time.Duration
	for len(lat) < n {
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-deadline:
			t.Fatalf("%d of %d watchers got their item within 60s", len(lat), n)
		}
	}
	slices.Sort(lat)
	t.Logf("%d watchers: last item %s after the first insert (p50 %s)", n, lat[n-1], lat[n/2])
}

// BenchmarkWatchStreams holds 1,000 streams (each its own user) on one server, measures the
// heap and stack they take, then delivers one item to each and measures the time from the
// start of the deliveries to each watcher's receipt. Metrics: streams, bytes/stream,
// p50-ms, p99-ms.
func BenchmarkWatchStreams(b *testing.B) {
	const n = 1000
	for b.Loop() {
		b.StopTimer()
		e := newWatchEnv(b, 1)
		users := e.users(b, n)
		ctx, cancel := context.WithCancel(context.Background())
		before := memInUse()
		b.StartTimer()
		got := e.watchAll(b, ctx, users)
		after := memInUse()
		start := e.deliverAll(b, users)
		lat := make([]time.Duration, 0, n)
		for range n {
			lat = append(lat, (<-got).Sub(start))
		}
		b.StopTimer()
		cancel()
		slices.Sort(lat)
		b.ReportMetric(float64(n), "streams")
		b.ReportMetric(float64(after-before)/n, "bytes/stream")
		b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
		b.StartTimer()
	}
}

// memInUse is the heap and goroutine stacks in use after a collection (client and server
// sides of the streams both live in this process, so a stream's figure is an upper bound of
// the server's share).
func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
