package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/server"
)

// withNotifications serves NotificationService with a running hub (MaxPerUser 2, the given
// heartbeat) and a test unsubscribe key.
func withNotifications(t testing.TB, heartbeat time.Duration) apiOption {
	return func(o *server.Options) {
		hub := notifications.NewHub(o.DB, notifications.New(o.DB, notifications.Options{}), notifications.HubOptions{MaxPerUser: 2, ListenURL: testenv.ListenURL(o.DB)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); hub.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case <-hub.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("the notification hub did not start listening")
		}
		o.Notifications = server.NotificationOptions{Hub: hub, Heartbeat: heartbeat, Unsubscribe: testUnsubscribeSigner(t)}
	}
}

func testUnsubscribeSigner(t testing.TB) *notifications.Signer {
	s, err := notifications.NewSigner([]byte("test-unsubscribe-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorization is a unary and streaming client interceptor sending a bearer token.
type authorization string

func (a authorization) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if a != "" {
			req.Header().Set("Authorization", "Bearer "+string(a))
		}
		return next(ctx, req)
	}
}

func (a authorization) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if a != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(a))
		}
		return conn
	}
}

func (a authorization) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func (api *testAPI) notificationClient(u *testUser) tutorhubv1connect.NotificationServiceClient {
	token := ""
	if u != nil {
		token = u.AccessToken
	}
	return tutorhubv1connect.NewNotificationServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(authorization(token)))
}

// deliver puts a new notice of category into u's inbox, as NotifyFanout's inbox activity does.
func (api *testAPI) deliver(t testing.TB, u *testUser, category notifications.Category, kind string) uuid.UUID {
	t.Helper()
	user := uuid.MustParse(u.ID)
	n := notifications.Notice{EventID: uuid.New(), EventType: "test", Category: category, Kind: kind, Recipients: []uuid.UUID{user}, OccurredAt: time.Now()}
	if _, err := notifications.New(api.DB, notifications.Options{}).DeliverInbox(context.Background(), n, user); err != nil {
		t.Fatal(err)
	}
	return n.EventID
}

// TestNotificationServiceAuthorizationMatrix calls every NotificationService RPC as an
// anonymous caller, another user and the owner of an inbox, and checks the answers and that
// nobody but the owner read or changed the owner's notifications and preferences.
func TestNotificationServiceAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withNotifications(t, time.Hour))
	ctx := context.Background()
	owner, other := api.signUp(t), api.signUp(t)
	api.deliver(t, owner, notifications.CategorySecurity, "password_changed")
	ownerItems, err := api.notificationClient(owner).ListNotifications(ctx, &tutorhubv1.ListNotificationsRequest{})
	if err != nil || len(ownerItems.GetNotifications()) != 1 {
		t.Fatalf("owner's inbox = %v, %v", ownerItems, err)
	}
	item := ownerItems.GetNotifications()[0]
	callers := []struct {
		name string
		u    *testUser
	}{{"anonymous", nil}, {"other user", other}, {"owner", owner}}
	signedIn := map[string]connect.Code{"anonymous": connect.CodeUnauthenticated, "other user": codeOK, "owner": codeOK}

	// ownerUntouched checks, after a call by someone else, that the owner's item is unread
	// and the owner's preferences are the defaults.
	ownerUntouched := func(t *testing.T) {
		t.Helper()
		c := api.notificationClient(owner)
		n, err := c.GetUnreadCount(ctx, &tutorhubv1.GetUnreadCountRequest{})
		if err != nil || n.GetUnreadCount() != 1 {
			t.Errorf("owner's unread count = %d, %v; want 1", n.GetUnreadCount(), err)
		}
		prefs, err := c.GetNotificationPreferences(ctx, &tutorhubv1.GetNotificationPreferencesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range prefs.GetPreferences() {
			if !p.GetEnabled() {
				t.Errorf("owner's preference changed: %v", p)
			}
		}
	}
	rows := []struct {
		rpc  string
		want map[string]connect.Code
		// call calls as caller; it reports what the caller saw of the owner's data.
		call func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, caller *testUser) error
	}{
		{"ListNotifications", signedIn, func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, caller *testUser) error {
			res, err := c.ListNotifications(ctx, &tutorhubv1.ListNotificationsRequest{})
			if err == nil && caller != owner && len(res.GetNotifications()) != 0 {
				t.Errorf("%s listed the owner's notifications", caller.Email)
			}
			return err
		}},
		{"MarkRead", map[string]connect.Code{"anonymous": connect.CodeUnauthenticated, "other user": connect.CodeNotFound, "owner": codeOK},
			func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, _ *testUser) error {
				_, err := c.MarkRead(ctx, &tutorhubv1.MarkReadRequest{NotificationId: item.GetId()})
				return err
			}},
		{"MarkAllRead", signedIn, func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, _ *testUser) error {
			_, err := c.MarkAllRead(ctx, &tutorhubv1.MarkAllReadRequest{})
			return err
		}},
		{"GetUnreadCount", signedIn, func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, caller *testUser) error {
			res, err := c.GetUnreadCount(ctx, &tutorhubv1.GetUnreadCountRequest{})
			if err == nil && caller != owner && res.GetUnreadCount() != 0 {
				t.Errorf("%s counted the owner's notifications", caller.Email)
			}
			return err
		}},
		{"WatchNotifications", signedIn, func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, _ *testUser) error {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			stream, err := c.WatchNotifications(sctx, &tutorhubv1.WatchNotificationsRequest{})
			if err != nil {
				return err
			}
			defer stream.Close()
			if !stream.Receive() {
				return stream.Err()
			}
			return nil
		}},
		{"GetNotificationPreferences", signedIn, func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, _ *testUser) error {
			_, err := c.GetNotificationPreferences(ctx, &tutorhubv1.GetNotificationPreferencesRequest{})
			return err
		}},
		{"UpdateNotificationPreferences", signedIn, func(t *testing.T, c tutorhubv1connect.NotificationServiceClient, caller *testUser) error {
			_, err := c.UpdateNotificationPreferences(ctx, &tutorhubv1.UpdateNotificationPreferencesRequest{Preferences: []*tutorhubv1.NotificationPreference{
				{Category: "tutors", Channel: "email", Enabled: false},
			}})
			if err == nil && caller == owner {
				// Back to the defaults, for the rows that follow.
				_, err = c.UpdateNotificationPreferences(ctx, &tutorhubv1.UpdateNotificationPreferencesRequest{Preferences: []*tutorhubv1.NotificationPreference{
					{Category: "tutors", Channel: "email", Enabled: true},
				}})
			}
			return err
		}},
	}
	covered := map[string]bool{}
	for _, row := range rows {
		procedure := "/" + tutorhubv1connect.NotificationServiceName + "/" + row.rpc
		covered[procedure] = true
		if got := server.AccessRules[procedure].Who; got != server.Authenticated {
			t.Errorf("%s: access rule %v, want Authenticated", row.rpc, got)
		}
		// The owner goes last: the others' calls must leave the owner's data as it was.
		for _, c := range callers {
			t.Run(row.rpc+"/"+c.name, func(t *testing.T) {
				err := row.call(t, api.notificationClient(c.u), c.u)
				if want := row.want[c.name]; want == codeOK {
					if err != nil {
						t.Fatalf("%s as %s: %v, want success", row.rpc, c.name, err)
					}
				} else {
					wantCode(t, err, want)
				}
				if c.u != owner && row.rpc != "WatchNotifications" {
					ownerUntouched(t)
				}
				if c.u == owner && (row.rpc == "MarkRead" || row.rpc == "MarkAllRead") {
					// Unread again for the next row's witnesses.
					if _, err := api.DB.Exec(ctx, `UPDATE notifications SET read_at = NULL WHERE id = $1`, item.GetId()); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
	methods := tutorhubv1.File_tutorhub_v1_notification_proto.Services().ByName("NotificationService").Methods()
	for i := 0; i < methods.Len(); i++ {
		procedure := "/" + tutorhubv1connect.NotificationServiceName + "/" + string(methods.Get(i).Name())
		if !covered[procedure] {
			t.Errorf("%s is missing from the authorization matrix", procedure)
		}
	}
}

func TestNotificationPreferencesRefuseUnknownCategoriesAndChannels(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	u := api.signUp(t)
	c := api.notificationClient(u)
	for _, tc := range []struct {
		name  string
		prefs []*tutorhubv1.NotificationPreference
		field string
	}{
		{"an unknown category", []*tutorhubv1.NotificationPreference{{Category: "tutors", Channel: "email"}, {Category: "lottery", Channel: "email"}}, "preferences[1].category"},
		{"an unknown channel", []*tutorhubv1.NotificationPreference{{Category: "tutors", Channel: "carrier-pigeon"}}, "preferences[0].channel"},
		{"security turned off", []*tutorhubv1.NotificationPreference{{Category: "security", Channel: "email", Enabled: false}}, "preferences[0].enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.UpdateNotificationPreferences(ctx, &tutorhubv1.UpdateNotificationPreferencesRequest{Preferences: tc.prefs})
			wantCode(t, err, connect.CodeInvalidArgument)
			if fields := searchViolationFields(t, err); len(fields) != 1 || fields[0] != tc.field {
				t.Errorf("violations on %v, want %s", fields, tc.field)
			}
			prefs, err := c.GetNotificationPreferences(ctx, &tutorhubv1.GetNotificationPreferencesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range prefs.GetPreferences() {
				if !p.GetEnabled() {
					t.Errorf("a refused update changed %v", p)
				}
			}
		})
	}
	if _, err := c.MarkRead(ctx, &tutorhubv1.MarkReadRequest{NotificationId: "not-a-uuid"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("MarkRead of a malformed id = %v, want INVALID_ARGUMENT", err)
	}
}

func TestWatchNotificationsPushesNewItemsAndBoundsStreams(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withNotifications(t, 300*time.Millisecond))
	u := api.signUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := api.notificationClient(u)
	first, err := c.WatchNotifications(ctx, &tutorhubv1.WatchNotificationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if !first.Receive() || first.Msg().GetNotification() != nil {
		t.Fatalf("first message = %v, %v; want the unread count alone", first.Msg(), first.Err())
	}
	second, err := c.WatchNotifications(ctx, &tutorhubv1.WatchNotificationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if !second.Receive() {
		t.Fatal(second.Err())
	}
	third, err := c.WatchNotifications(ctx, &tutorhubv1.WatchNotificationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if third.Receive() || connect.CodeOf(third.Err()) != connect.CodeResourceExhausted {
		t.Fatalf("a third stream = %v, want RESOURCE_EXHAUSTED", third.Err())
	}
	third.Close()

	event := api.deliver(t, u, notifications.CategoryTutors, "tutor_published")
	for _, s := range []*connect.ServerStreamForClient[tutorhubv1.WatchNotificationsResponse]{first, second} {
		heartbeats := 0
		for s.Receive() {
			if n := s.Msg().GetNotification(); n != nil {
				if n.GetKind() != "tutor_published" || s.Msg().GetUnreadCount() != 1 {
					t.Fatalf("pushed %v", s.Msg())
				}
				break
			}
			heartbeats++
		}
		if s.Err() != nil {
			t.Fatalf("stream ended: %v (event %s)", s.Err(), event)
		}
		_ = heartbeats
	}
	// Heartbeats keep coming with the count.
	if !first.Receive() || first.Msg().GetNotification() != nil || first.Msg().GetUnreadCount() != 1 {
		t.Fatalf("heartbeat = %v, %v", first.Msg(), first.Err())
	}
}

func TestUnsubscribeLinkPage(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withNotifications(t, time.Hour))
	u := api.signUp(t)
	signer := testUnsubscribeSigner(t)
	good := signer.Sign(uuid.MustParse(u.ID), notifications.CategoryUploads)
	tampered := strings.Replace(good, ".uploads.", ".tutors.", 1)
	link := func(token string) string {
		return api.URL + notifications.UnsubscribePath + "?token=" + url.QueryEscape(token)
	}
	emailOn := func() map[string]bool {
		prefs, err := api.notificationClient(u).GetNotificationPreferences(context.Background(), &tutorhubv1.GetNotificationPreferencesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, p := range prefs.GetPreferences() {
			if p.GetChannel() == "email" {
				out[p.GetCategory()] = p.GetEnabled()
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, method, url, body string
		status                  int
		page                    string
	}{
		{"a tampered link shows a clear page", http.MethodGet, link(tampered), "", http.StatusBadRequest, "not valid"},
		{"a tampered link posted changes nothing", http.MethodPost, link(tampered), "List-Unsubscribe=One-Click", http.StatusBadRequest, "not valid"},
		{"no token", http.MethodPost, api.URL + notifications.UnsubscribePath, "", http.StatusBadRequest, "not valid"},
		{"opening the link only asks", http.MethodGet, link(good), "", http.StatusOK, "<form method=\"post\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, tc.method, tc.url, tc.body, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			if status != tc.status || !strings.Contains(string(body), tc.page) {
				t.Fatalf("%s %s = %d %s", tc.method, tc.url, status, body)
			}
			for cat, on := range emailOn() {
				if !on {
					t.Fatalf("%s mail turned off", cat)
				}
			}
		})
	}
	// RFC 8058 one-click: a POST to the List-Unsubscribe URL.
	status, _, body := do(t, http.MethodPost, link(good), "List-Unsubscribe=One-Click", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status != http.StatusOK || !strings.Contains(string(body), "unsubscribed") {
		t.Fatalf("one-click POST = %d %s", status, body)
	}
	if got := emailOn(); got["uploads"] || !got["tutors"] || !got["security"] {
		t.Fatalf("email preferences after unsubscribing from uploads = %v", got)
	}
}
