package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/serviceaccounts"
)

// Every RPC of every tutorhub service declares its access level in server.AccessRules, for
// users and for service accounts (a scope, or none).
func TestEveryRPCDeclaresAccess(t *testing.T) {
	_ = tutorhubv1.File_tutorhub_v1_auth_proto // the generated descriptors register on import
	seen := 0
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "tutorhub.v1" {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				procedure := "/" + string(svc.FullName()) + "/" + string(svc.Methods().Get(j).Name())
				seen++
				rule, ok := server.AccessRules[procedure]
				if !ok {
					t.Errorf("%s declares no access level in server.AccessRules", procedure)
					continue
				}
				if !rule.ServiceAccounts.Declared() {
					t.Errorf("%s declares nothing for service accounts in server.AccessRules: NeedsScope(...) or NoServiceAccounts", procedure)
				}
				if scope, ok := rule.ServiceAccounts.Scope(); ok && !serviceaccounts.Known(scope) {
					t.Errorf("%s needs the unknown scope %q", procedure, scope)
				}
			}
		}
		return true
	})
	if seen < 15 {
		t.Fatalf("walked only %d RPCs: are the generated files linked?", seen)
	}
	for _, name := range server.ServiceNames {
		if _, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name)); err != nil {
			t.Errorf("served service %s has no descriptor", name)
		}
	}
}

func TestJWKSIsPublished(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	status, header, body := do(t, http.MethodGet, api.URL+"/.well-known/jwks.json", "", nil)
	if status != http.StatusOK || !strings.Contains(header.Get("Content-Type"), "json") {
		t.Fatalf("%d %s", status, body)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %v %s", err, body)
	}
	for _, k := range set.Keys {
		if _, private := k["d"]; private || k["kid"] == "" {
			t.Fatalf("published key %v", k)
		}
	}
}

func TestAuditLogRecordsAndFilters(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	admin := api.admin(t)
	if _, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: "wrong password!"}); err == nil {
		t.Fatal("wrong password accepted")
	}
	login, err := api.authClient().Login(ctx, &tutorhubv1.LoginRequest{Email: u.Email, Password: u.Password})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, login.GetTokens().GetAccessToken(), login.GetTokens().GetSessionToken())
	users := tutorhubv1connect.NewUserServiceClient(http.DefaultClient, api.URL, u.opt(), connect.WithInterceptors(headers(map[string]string{"User-Agent": "audit-test/1.0", "X-Request-Id": "audit-req-1"})))
	if _, err := users.UpdateMe(ctx, &tutorhubv1.UpdateMeRequest{Profile: &tutorhubv1.ProfileUpdate{Bio: "hi"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bio"}}}); err != nil {
		t.Fatal(err)
	}
	admins := tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, admin.opt())

	all, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{SubjectId: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range all.GetEvents() {
		actions = append(actions, e.GetAction())
	}
	// signUp registers, then logs in: two logins in all.
	if strings.Join(actions, ",") != strings.Join([]string{server.AuditProfileUpdated, server.AuditLogin, server.AuditLogin, server.AuditRegister}, ",") {
		t.Fatalf("events about the user, newest first: %v", actions)
	}
	upd := all.GetEvents()[0]
	if upd.GetActorId() != u.ID || upd.GetIp() == "" || upd.GetUserAgent() != "audit-test/1.0" || upd.GetRequestId() != "audit-req-1" || upd.GetDetails()["fields"] != "bio" {
		t.Fatalf("profile event = %v", upd)
	}
	failed, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{Action: server.AuditLoginFailed})
	if err != nil || len(failed.GetEvents()) != 1 || failed.GetEvents()[0].GetDetails()["email"] != u.Email {
		t.Fatalf("failed logins: %v %v", failed, err)
	}
	byActor, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{ActorId: u.ID, Action: server.AuditLogin})
	if err != nil || len(byActor.GetEvents()) != 2 {
		t.Fatalf("by actor and action: %v %v", byActor, err)
	}
	future, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{StartTime: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil || len(future.GetEvents()) != 0 {
		t.Fatalf("time range: %v %v", future, err)
	}

	// Keyset pages of one event cover the log exactly once.
	var paged []string
	req := &tutorhubv1.ListAuditEventsRequest{PageSize: 1}
	for i := 0; ; i++ {
		if i > 50 {
			t.Fatal("pagination does not terminate")
		}
		res, err := admins.ListAuditEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.GetEvents() {
			paged = append(paged, e.GetId())
		}
		if res.GetNextPageToken() == "" {
			break
		}
		req = &tutorhubv1.ListAuditEventsRequest{PageSize: 1, PageToken: res.GetNextPageToken()}
	}
	whole, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{PageSize: 100})
	if err != nil || len(whole.GetEvents()) != len(paged) {
		t.Fatalf("paged %d events, one page %d (%v)", len(paged), len(whole.GetEvents()), err)
	}
	// A token is bound to its filters.
	first, _ := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{PageSize: 1})
	_, err = admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{PageSize: 1, Action: server.AuditLogin, PageToken: first.GetNextPageToken()})
	wantViolation(t, err, "page_token")
	_, err = admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{ActorId: "not-a-uuid"})
	wantViolation(t, err, "actor_id")

	// Append-only: the database refuses to change or remove events.
	for _, stmt := range []string{"UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"} {
		if _, err := api.DB.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", stmt, err)
		}
	}
}
