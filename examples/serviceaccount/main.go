// Command serviceaccount is a backend service calling tutorhub over gRPC with a
// service-account key: it lists published tutors and reads the first one.
//
//	TUTORHUB_KEY=thk_... go run ./examples/serviceaccount -addr http://127.0.0.1:8080
//
// The key needs the tutors:read scope (ServiceAccountService.CreateKey). It is sent as
// gRPC metadata "authorization: Bearer <key>" on every call, by an interceptor.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
)

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8080", "the API's base URL (http:// speaks gRPC over cleartext HTTP/2)")
	flag.Parse()
	key := os.Getenv("TUTORHUB_KEY")
	if key == "" {
		fmt.Fprintln(os.Stderr, "set TUTORHUB_KEY to a service-account key (thk_...)")
		os.Exit(2)
	}
	if err := run(*addr, key); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(addr, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tutors := tutorhubv1connect.NewTutorServiceClient(grpcHTTPClient(), addr,
		connect.WithGRPC(), connect.WithInterceptors(withKey(key)))
	list, err := tutors.ListTutors(ctx, &tutorhubv1.ListTutorsRequest{PageSize: 5})
	if err != nil {
		// PermissionDenied: the key lacks tutors:read. Unauthenticated: it is malformed,
		// unknown, revoked or expired, or its account is disabled.
		return fmt.Errorf("list tutors (%v): %w", connect.CodeOf(err), err)
	}
	for _, t := range list.GetTutors() {
		fmt.Printf("%s  %s\n", t.GetId(), t.GetProfile().GetHeadline())
	}
	if len(list.GetTutors()) == 0 {
		fmt.Println("no published tutors yet")
		return nil
	}
	first, err := tutors.GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: list.GetTutors()[0].GetId()})
	if err != nil {
		return fmt.Errorf("get tutor: %w", err)
	}
	fmt.Printf("first: %s (version %d)\n", first.GetTutor().GetProfile().GetHeadline(), first.GetTutor().GetVersion())
	return nil
}

// withKey sends the key as a bearer token on every call.
func withKey(key string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+key)
			return next(ctx, req)
		}
	}
}

// grpcHTTPClient speaks HTTP/2, as gRPC needs: over TLS for https:// addresses, and over
// cleartext (h2c) for http:// ones.
func grpcHTTPClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols}}
}
