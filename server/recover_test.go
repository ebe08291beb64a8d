package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

type panickingChecker struct{}

func (panickingChecker) Check(context.Context, *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	panic("secret internal detail")
}

func TestPanicsBecomeInternalWithoutInternals(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	mux := http.NewServeMux()
	mux.Handle(grpchealth.NewHandler(panickingChecker{}, connect.WithInterceptors(observe(log)), recoverHandler(log)))
	mux.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic("secret internal detail") })
	e := &edge{log: log, maxBodyBytes: 1 << 20}
	srv := httptest.NewServer(e.wrap(mux))
	defer srv.Close()

	t.Run("a panicking RPC answers Internal", func(t *testing.T) {
		c := grpchealth.NewClient(http.DefaultClient, srv.URL)
		_, err := c.Check(context.Background(), &grpchealth.CheckRequest{})
		if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "secret") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a panicking HTTP handler answers a JSON 500", func(t *testing.T) {
		res, err := http.Get(srv.URL + "/boom")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 500 || !strings.Contains(string(b), `"code":"internal"`) || strings.Contains(string(b), "secret") {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
	if !strings.Contains(logs.String(), "secret internal detail") {
		t.Fatal("the panic was not logged for operators")
	}
}
