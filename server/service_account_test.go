package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/serviceaccounts"
)

// withDB makes a test API use db, so two test APIs act as two replicas of one deployment.
func withDB(db *pgxpool.Pool) apiOption {
	return func(o *server.Options) { o.DB = db }
}

// serviceAccountKey creates, through the admin's ServiceAccountService, an account and a key
// with scopes, and returns the account id, the key id and the whole key.
func (api *testAPI) serviceAccountKey(t testing.TB, admin *testUser, scopes ...string) (accountID, keyID, key string) {
	t.Helper()
	return api.serviceAccountKeyWith(t, admin, 0, scopes...)
}

// serviceAccountKeyWith is serviceAccountKey with the account's requests per minute (0: the
// default).
func (api *testAPI) serviceAccountKeyWith(t testing.TB, admin *testUser, perMinute int32, scopes ...string) (accountID, keyID, key string) {
	t.Helper()
	ctx := context.Background()
	c := tutorhubv1connect.NewServiceAccountServiceClient(http.DefaultClient, api.URL, admin.opt())
	acct, err := c.CreateServiceAccount(ctx, &tutorhubv1.CreateServiceAccountRequest{Name: "svc-" + testenv.RandomID(), RequestsPerMinute: perMinute})
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: acct.GetServiceAccount().GetId(), Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, k.GetSecret())
	return acct.GetServiceAccount().GetId(), k.GetKey().GetId(), k.GetSecret()
}

// The acceptance path, over Connect, gRPC and gRPC-Web: a tutors:read key lists and reads tutors, is
// refused out of its scopes, and stops working on two replicas over one database soon after
// RevokeKey.
func TestServiceAccountKeyEndToEnd(t *testing.T) {
	t.Parallel()
	env := newSearchEnv(t)
	api := env.api
	replica := newTestAPI(t, withDB(api.DB))
	admin := api.admin(t)
	published := env.tutor(t, "Ada Key", "Algebra and geometry for every level", true)
	ctx := context.Background()

	protocols := authProtocols(api)
	protocols["grpcweb"] = []connect.ClientOption{connect.WithGRPCWeb()}
	for proto, opts := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			accountID, keyID, key := api.serviceAccountKey(t, admin, "tutors:read")
			hc := clientFor(proto)
			withKey := append([]connect.ClientOption{connect.WithInterceptors(bearer(key))}, opts...)
			tutorsOn := func(url string) tutorhubv1connect.TutorServiceClient {
				return tutorhubv1connect.NewTutorServiceClient(hc, url, withKey...)
			}
			for _, url := range []string{api.URL, replica.URL} {
				list, err := tutorsOn(url).ListTutors(ctx, &tutorhubv1.ListTutorsRequest{PageSize: 100})
				if err != nil {
					t.Fatalf("ListTutors with a tutors:read key: %v", err)
				}
				found := false
				for _, tu := range list.GetTutors() {
					found = found || tu.GetId() == published.ID.String()
				}
				if !found {
					t.Fatalf("ListTutors with a key misses the published tutor")
				}
				got, err := tutorsOn(url).GetTutor(ctx, &tutorhubv1.GetTutorRequest{TutorId: published.ID.String()})
				if err != nil || got.GetTutor().GetId() != published.ID.String() {
					t.Fatalf("GetTutor with a tutors:read key: %v %v", got, err)
				}
			}

			// Outside its scopes: a public RPC of another scope, a user's RPC, an admin RPC.
			_, err := tutorhubv1connect.NewSearchServiceClient(hc, api.URL, withKey...).SearchTutors(ctx, &tutorhubv1.SearchTutorsRequest{Query: "algebra"})
			wantCode(t, err, connect.CodePermissionDenied)
			_, err = tutorhubv1connect.NewUserServiceClient(hc, api.URL, withKey...).GetMe(ctx, &tutorhubv1.GetMeRequest{})
			wantCode(t, err, connect.CodePermissionDenied)
			_, err = tutorhubv1connect.NewServiceAccountServiceClient(hc, api.URL, withKey...).ListServiceAccounts(ctx, &tutorhubv1.ListServiceAccountsRequest{})
			wantCode(t, err, connect.CodePermissionDenied)
			_, err = tutorsOn(api.URL).CreateTutorProfile(ctx, &tutorhubv1.CreateTutorProfileRequest{Profile: &tutorhubv1.TutorProfile{Headline: "x"}})
			wantCode(t, err, connect.CodePermissionDenied)

			admins := tutorhubv1connect.NewServiceAccountServiceClient(http.DefaultClient, api.URL, admin.opt())
			if _, err := admins.RevokeKey(ctx, &tutorhubv1.RevokeKeyRequest{ServiceAccountId: accountID, KeyId: keyID}); err != nil {
				t.Fatal(err)
			}
			revokedAt := time.Now()
			// The replica that revoked refuses at once; the other within its cache TTL (5 s).
			_, err = tutorsOn(api.URL).ListTutors(ctx, &tutorhubv1.ListTutorsRequest{})
			wantCode(t, err, connect.CodeUnauthenticated)
			for {
				_, err := tutorsOn(replica.URL).ListTutors(ctx, &tutorhubv1.ListTutorsRequest{})
				if codeOf(err) == connect.CodeUnauthenticated {
					t.Logf("the other replica refused the revoked key after %v", time.Since(revokedAt).Round(time.Millisecond))
					break
				}
				if err != nil {
					t.Fatalf("revoked key on the other replica: %v", err)
				}
				if time.Since(revokedAt) > 15*time.Second {
					t.Fatal("the other replica still accepts the key 15 s after RevokeKey (its cache TTL is 5 s)")
				}
				time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
			}
		})
	}
}

// Bad keys get clear Unauthenticated errors, on public RPCs too (a key never runs as
// anonymous); a key of a disabled account stops working.
func TestServiceAccountBadKeys(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	admin := api.admin(t)
	ctx := context.Background()
	accountID, _, key := api.serviceAccountKey(t, admin, "subjects:read")
	other, _, _ := serviceaccounts.NewKey()
	api.noteSecrets(t, other)
	subjectsWith := func(k string) tutorhubv1connect.SubjectServiceClient {
		return tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(k)))
	}
	if _, err := subjectsWith(key).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{}); err != nil {
		t.Fatalf("subjects:read key: %v", err)
	}
	for name, tc := range map[string]struct{ key, message string }{
		"malformed":      {key[:len(key)-1] + "_", "malformed"},
		"truncated":      {key[:30], "malformed"},
		"unknown prefix": {other, "unknown key"},
	} {
		_, err := subjectsWith(tc.key).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{})
		wantCode(t, err, connect.CodeUnauthenticated)
		if !strings.Contains(connectMessage(err), tc.message) {
			t.Errorf("%s: %q, want it to say %q", name, connectMessage(err), tc.message)
		}
	}
	admins := tutorhubv1connect.NewServiceAccountServiceClient(http.DefaultClient, api.URL, admin.opt())
	if _, err := admins.DisableServiceAccount(ctx, &tutorhubv1.DisableServiceAccountRequest{ServiceAccountId: accountID}); err != nil {
		t.Fatal(err)
	}
	_, err := subjectsWith(key).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	if !strings.Contains(connectMessage(err), "disabled") {
		t.Errorf("disabled account: %q", connectMessage(err))
	}
	_, err = admins.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: accountID, Scopes: []string{"tutors:read"}})
	wantCode(t, err, connect.CodeFailedPrecondition)
}

// ServiceAccountService: validation with field violations, keys listed by prefix only,
// pages, audit events for creation, scope refusals and use of a revoked key.
func TestServiceAccountServiceRPCs(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	admin := api.admin(t)
	ctx := context.Background()
	c := tutorhubv1connect.NewServiceAccountServiceClient(http.DefaultClient, api.URL, admin.opt())

	_, err := c.CreateServiceAccount(ctx, &tutorhubv1.CreateServiceAccountRequest{Name: ""})
	wantViolation(t, err, "name")
	_, err = c.CreateServiceAccount(ctx, &tutorhubv1.CreateServiceAccountRequest{Name: "x\u202e"})
	wantViolation(t, err, "name")
	acct, err := c.CreateServiceAccount(ctx, &tutorhubv1.CreateServiceAccountRequest{Name: "crm-" + testenv.RandomID(), RequestsPerMinute: 1200})
	if err != nil || acct.GetServiceAccount().GetRequestsPerMinute() != 1200 || acct.GetServiceAccount().GetOwnerId() != admin.ID {
		t.Fatalf("create: %v %v", acct, err)
	}
	_, err = c.CreateServiceAccount(ctx, &tutorhubv1.CreateServiceAccountRequest{Name: acct.GetServiceAccount().GetName()})
	wantCode(t, err, connect.CodeAlreadyExists)
	id := acct.GetServiceAccount().GetId()

	_, err = c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: id, Scopes: []string{"tutors:read", "tutors:write"}})
	wantViolation(t, err, "scopes[1]")
	_, err = c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: id})
	wantViolation(t, err, "scopes")
	_, err = c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: id, Scopes: []string{"tutors:read"}, ExpireTime: timestamppb.New(time.Now().Add(-time.Hour))})
	wantViolation(t, err, "expire_time")
	_, err = c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: "not-a-uuid", Scopes: []string{"tutors:read"}})
	wantViolation(t, err, "service_account_id")
	_, err = c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: "6b0b5d0e-0c39-4a4a-9f39-1d2a3c4b5e6f", Scopes: []string{"tutors:read"}})
	wantCode(t, err, connect.CodeNotFound)

	var secrets []string
	for i := 0; i < 3; i++ {
		k, err := c.CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: id, Scopes: []string{"search:read", "tutors:read"}, ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		api.noteSecrets(t, k.GetSecret())
		if !strings.HasPrefix(k.GetSecret(), "thk_"+k.GetKey().GetPrefix()+"_") || k.GetKey().GetExpireTime() == nil {
			t.Fatalf("key %v", k.GetKey())
		}
		secrets = append(secrets, k.GetSecret())
	}
	// Pages of one key cover the keys once, and never carry a secret.
	var listed []*tutorhubv1.ServiceAccountKey
	req := &tutorhubv1.ListKeysRequest{ServiceAccountId: id, PageSize: 1}
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("pagination does not terminate")
		}
		res, err := c.ListKeys(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(res)
		for _, s := range secrets {
			if strings.Contains(string(raw), s[len("thk_")+11:]) {
				t.Fatal("ListKeys returned a secret")
			}
		}
		listed = append(listed, res.GetKeys()...)
		if res.GetNextPageToken() == "" {
			break
		}
		req = &tutorhubv1.ListKeysRequest{ServiceAccountId: id, PageSize: 1, PageToken: res.GetNextPageToken()}
	}
	if len(listed) != 3 {
		t.Fatalf("listed %d keys, want 3", len(listed))
	}
	// A page token is bound to its account.
	first, _ := c.ListKeys(ctx, &tutorhubv1.ListKeysRequest{ServiceAccountId: id, PageSize: 1})
	otherAcct, _, _ := api.serviceAccountKey(t, admin, "tutors:read")
	_, err = c.ListKeys(ctx, &tutorhubv1.ListKeysRequest{ServiceAccountId: otherAcct, PageSize: 1, PageToken: first.GetNextPageToken()})
	wantViolation(t, err, "page_token")
	accts, err := c.ListServiceAccounts(ctx, &tutorhubv1.ListServiceAccountsRequest{PageSize: 100})
	if err != nil || len(accts.GetServiceAccounts()) != 2 {
		t.Fatalf("accounts %v %v", accts, err)
	}

	// A scope refusal, then use of a revoked key, are audited.
	key := secrets[0]
	keyID := listed[2].GetId() // oldest first created is last listed
	for _, k := range listed {
		if strings.HasPrefix(key, "thk_"+k.GetPrefix()+"_") {
			keyID = k.GetId()
		}
	}
	_, err = tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(key))).ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{})
	wantCode(t, err, connect.CodePermissionDenied)
	if _, err := c.RevokeKey(ctx, &tutorhubv1.RevokeKeyRequest{ServiceAccountId: id, KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RevokeKey(ctx, &tutorhubv1.RevokeKeyRequest{ServiceAccountId: otherAcct, KeyId: keyID})
	wantCode(t, err, connect.CodeNotFound)
	_, err = tutorhubv1connect.NewTutorServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(key))).ListTutors(ctx, &tutorhubv1.ListTutorsRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	admins := tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, admin.opt())
	for action, want := range map[string]int{
		serviceaccounts.AuditAccountCreated: 2, serviceaccounts.AuditKeyCreated: 4, serviceaccounts.AuditKeyRevoked: 1,
		serviceaccounts.AuditScopeRefused: 1, serviceaccounts.AuditRevokedKeyUsed: 1,
	} {
		res, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{Action: action, PageSize: 100})
		if err != nil || len(res.GetEvents()) != want {
			t.Errorf("%s: %d events (%v), want %d", action, len(res.GetEvents()), err, want)
			continue
		}
		for _, e := range res.GetEvents() {
			if strings.Contains(e.String(), key[len("thk_")+11:]) {
				t.Errorf("%s records a key's secret", action)
			}
		}
	}
	refused, _ := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{Action: serviceaccounts.AuditScopeRefused})
	if d := refused.GetEvents()[0].GetDetails(); d["procedure"] != tutorhubv1connect.SubjectServiceListSubjectsProcedure || d["needs"] != "subjects:read" || refused.GetEvents()[0].GetActorId() != id {
		t.Errorf("scope refusal event %v", refused.GetEvents()[0])
	}
}

// Every RPC of every service, as a service account: a key holding every scope passes the
// authorization of exactly the RPCs that declare a scope, a key holding none of an RPC's
// scope is refused with PermissionDenied, and RPCs that refuse service accounts refuse both.
// ServiceAccountService itself is also called as anonymous, a user and an admin. The calls
// are raw Connect JSON calls, so RPCs added later are covered without editing this test.
func TestEveryRPCAuthorizesServiceAccounts(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	admin, user := api.admin(t), api.signUp(t)
	var all []string
	for _, s := range serviceaccounts.Scopes {
		all = append(all, string(s.Scope))
	}
	_, _, everyScope := api.serviceAccountKey(t, admin, all...)
	_, _, reservedOnly := api.serviceAccountKey(t, admin, string(serviceaccounts.UploadsWrite))

	call := func(t *testing.T, procedure, token string, streaming bool) string {
		t.Helper()
		if streaming {
			return callServerStream(t, api.URL+procedure, token)
		}
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		status, _, body := do(t, http.MethodPost, api.URL+procedure, "{}", h)
		if status == http.StatusOK {
			return "ok"
		}
		var e struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(body, &e)
		return e.Code
	}
	refusals := map[string]bool{"permission_denied": true, "unauthenticated": true}
	seen := 0
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "tutorhub.v1" {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				method := svc.Methods().Get(j)
				procedure := "/" + string(svc.FullName()) + "/" + string(method.Name())
				streaming := method.IsStreamingServer()
				call := func(t *testing.T, procedure, token string) string { return call(t, procedure, token, streaming) }
				rule := server.AccessRules[procedure]
				scope, allowed := rule.ServiceAccounts.Scope()
				seen++
				t.Run(procedure, func(t *testing.T) {
					got := call(t, procedure, everyScope)
					if allowed && refusals[got] {
						t.Errorf("a key with every scope: %s, want the call authorized (it needs %s)", got, scope)
					}
					if !allowed && got != "permission_denied" {
						t.Errorf("a key with every scope: %s, want permission_denied (service accounts refused)", got)
					}
					if got := call(t, procedure, reservedOnly); got != "permission_denied" {
						t.Errorf("a key without the RPC's scope: %s, want permission_denied", got)
					}
					if svc.FullName() == tutorhubv1connect.ServiceAccountServiceName {
						if got := call(t, procedure, ""); got != "unauthenticated" {
							t.Errorf("anonymous: %s, want unauthenticated", got)
						}
						if got := call(t, procedure, user.AccessToken); got != "permission_denied" {
							t.Errorf("a user who is not an admin: %s, want permission_denied", got)
						}
						if got := call(t, procedure, admin.AccessToken); refusals[got] {
							t.Errorf("an admin: %s, want the call authorized", got)
						}
					}
				})
			}
		}
		return true
	})
	if seen < 20 {
		t.Fatalf("walked only %d RPCs", seen)
	}
}

// Each key spends a budget of its own, sized by its account's requests per minute.
func TestServiceAccountKeyRateLimit(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	admin := api.admin(t)
	ctx := context.Background()
	accountID, _, key := api.serviceAccountKeyWith(t, admin, 2, "subjects:read")
	k2, err := tutorhubv1connect.NewServiceAccountServiceClient(http.DefaultClient, api.URL, admin.opt()).
		CreateKey(ctx, &tutorhubv1.CreateKeyRequest{ServiceAccountId: accountID, Scopes: []string{"subjects:read"}})
	if err != nil {
		t.Fatal(err)
	}
	api.noteSecrets(t, k2.GetSecret())
	list := func(k string) error {
		_, err := tutorhubv1connect.NewSubjectServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(bearer(k))).
			ListSubjects(ctx, &tutorhubv1.ListSubjectsRequest{})
		return err
	}
	for i := 0; i < 2; i++ {
		if err := list(key); err != nil {
			t.Fatalf("call %d within the budget: %v", i+1, err)
		}
	}
	wantCode(t, list(key), connect.CodeResourceExhausted)
	if err := list(k2.GetSecret()); err != nil {
		t.Fatalf("another key of the account: %v", err)
	}
}

// callServerStream opens a server-streaming RPC with the Connect protocol's JSON streaming
// encoding and an empty request, and answers "ok" when the first message is data (the stream
// was authorized; it is closed at once), or the error code of an end-of-stream message.
func callServerStream(t *testing.T, url, token string) string {
	t.Helper()
	body := append([]byte{0, 0, 0, 0, 2}, "{}"...)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/connect+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", url, res.StatusCode)
	}
	var head [5]byte
	if _, err := io.ReadFull(res.Body, head[:]); err != nil {
		t.Fatalf("%s: reading the first message: %v", url, err)
	}
	if head[0]&2 == 0 {
		return "ok"
	}
	msg := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(res.Body, msg); err != nil {
		t.Fatalf("%s: reading the end of the stream: %v", url, err)
	}
	var end struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg, &end); err != nil {
		t.Fatalf("%s: end of stream %q: %v", url, msg, err)
	}
	if end.Error.Code == "" {
		return "ok"
	}
	return end.Error.Code
}
