package notifications_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/queries"
)

// smtpMailer sends through internal/mail to an SMTP URL.
type smtpMailer struct{ s *mail.Sender }

func (m smtpMailer) Send(ctx context.Context, n notifications.Mail) error {
	return m.s.SendMessage(ctx, mail.Message{To: n.To, Subject: n.Subject, Text: n.Text, HTML: n.HTML, MessageID: n.MessageID, Headers: n.Headers})
}

func newMailer(t *testing.T, smtpURL string) smtpMailer {
	t.Helper()
	s, err := mail.New(smtpURL, "tutorhub <no-reply@tutorhub.test>")
	if err != nil {
		t.Fatal(err)
	}
	return smtpMailer{s}
}

func newSigner(t *testing.T) *notifications.Signer {
	t.Helper()
	s, err := notifications.NewSigner([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newUser stores a user with a unique address, locale and time zone.
func newUser(t *testing.T, pool *pgxpool.Pool, locale, tz string) (uuid.UUID, string) {
	t.Helper()
	ctx := context.Background()
	id, email := uuid.New(), testenv.UniqueEmail("notify")
	q := queries.New(pool)
	if err := q.EnsureUser(ctx, queries.EnsureUserParams{ID: id, Email: email, DisplayName: "Ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.UpdateUserProfile(ctx, queries.UpdateUserProfileParams{ID: id, DisplayName: "Ada", Timezone: tz, Locale: locale}); err != nil {
		t.Fatal(err)
	}
	return id, email
}

func notice(category notifications.Category, kind string, user uuid.UUID) notifications.Notice {
	return notifications.Notice{
		EventID: uuid.New(), EventType: "test." + kind, Category: category, Kind: kind, Recipients: []uuid.UUID{user},
		OccurredAt: time.Date(2026, 12, 1, 13, 5, 0, 0, time.UTC), Data: map[string]string{"device": "curl on network 127.0.0.0/24", "purpose": "avatar", "status": "clean"},
	}
}

// mailpitMessage is what a test reads of a mail in Mailpit.
type mailpitMessage struct {
	ID, MessageID, Subject, Text, HTML string
	Headers                            map[string][]string
}

// mailsTo lists the mail to `to` in Mailpit (the shared sink; addresses are unique per test).
func mailsTo(t *testing.T, to string) []mailpitMessage {
	t.Helper()
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	getJSON(t, testenv.MailpitURL()+"/api/v1/search?query="+url.QueryEscape(fmt.Sprintf("to:%q", to)), &list)
	out := make([]mailpitMessage, 0, len(list.Messages))
	for _, m := range list.Messages {
		var msg mailpitMessage
		getJSON(t, testenv.MailpitURL()+"/api/v1/message/"+m.ID, &msg)
		getJSON(t, testenv.MailpitURL()+"/api/v1/message/"+m.ID+"/headers", &msg.Headers)
		out = append(out, msg)
	}
	return out
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("Mailpit is not reachable (start the stack with deploy/local/up.sh): %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// waitMails polls Mailpit until `to` has n mails or the deadline passes.
func waitMails(t *testing.T, to string, n int) []mailpitMessage {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := mailsTo(t, to)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDeliveriesHappenOncePerEventRecipientAndChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	svc := notifications.New(pool, notifications.Options{Mailer: newMailer(t, testenv.SMTPURL()), Unsubscribe: newSigner(t), PublicURL: "http://tutorhub.test"})
	user, email := newUser(t, pool, "de-DE", "Europe/Berlin")
	n := notice(notifications.CategoryUploads, "upload_scanned", user)

	for i, want := range []string{notifications.OutcomeDelivered, notifications.OutcomeAlreadyDone, notifications.OutcomeAlreadyDone} {
		got, err := svc.DeliverInbox(ctx, n, user)
		if err != nil || got != want {
			t.Fatalf("inbox delivery %d = %q, %v; want %q", i+1, got, err, want)
		}
		got, err = svc.DeliverEmail(ctx, n, user)
		if err != nil || got != want {
			t.Fatalf("email delivery %d = %q, %v; want %q", i+1, got, err, want)
		}
	}
	items, err := svc.List(ctx, notifications.ListFilter{UserID: user, Limit: 10})
	if err != nil || len(items) != 1 || items[0].Title != "Ihr Upload wurde geprüft" || !strings.Contains(items[0].Body, "14:05 CET") {
		t.Fatalf("inbox = %+v, %v; want one German item at 14:05 CET", items, err)
	}
	mails := waitMails(t, email, 1)
	if len(mails) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(mails), email)
	}
	m := mails[0]
	if want := notifications.MessageID(n.EventID, user, "tutorhub.test"); m.MessageID != want {
		t.Errorf("Message-ID = %q, want %q (derived from the delivery key)", m.MessageID, want)
	}
	unsub := m.Headers["List-Unsubscribe"]
	if len(unsub) != 1 || !strings.HasPrefix(unsub[0], "<http://tutorhub.test/notifications/unsubscribe?token=") ||
		strings.Join(m.Headers["List-Unsubscribe-Post"], "") != "List-Unsubscribe=One-Click" {
		t.Errorf("unsubscribe headers = %v / %v", unsub, m.Headers["List-Unsubscribe-Post"])
	}
	if !strings.Contains(m.Text, "14:05 CET") || !strings.Contains(m.HTML, "<h1") || !strings.Contains(m.Text, "abbestellen") {
		t.Errorf("mail not rendered in the user's locale and zone:\n%s", m.Text)
	}
}

func TestSecurityMailHasNoUnsubscribeAndCannotBeTurnedOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	svc := notifications.New(pool, notifications.Options{Mailer: newMailer(t, testenv.SMTPURL()), Unsubscribe: newSigner(t), PublicURL: "http://tutorhub.test"})
	user, email := newUser(t, pool, "en", "UTC")
	_, err := svc.UpdatePreferences(ctx, user, []notifications.PreferenceUpdate{{Category: "security", Channel: "email", Enabled: false}})
	var e *tutorhub.Error
	if !errors.As(err, &e) || e.Code != tutorhub.EINVALID || e.Violations[0].Field != "preferences[0].enabled" {
		t.Fatalf("turning security mail off = %v, want INVALID on preferences[0].enabled", err)
	}
	// Every other category's mail off: security still reaches both channels.
	_, err = svc.UpdatePreferences(ctx, user, []notifications.PreferenceUpdate{{"tutors", "email", false}, {"uploads", "email", false}, {"uploads", "inbox", false}})
	if err != nil {
		t.Fatal(err)
	}
	sec := notice(notifications.CategorySecurity, "password_changed", user)
	plan, err := svc.Plan(ctx, sec)
	if err != nil || len(plan) != 2 {
		t.Fatalf("security plan = %v, %v; want inbox and email", plan, err)
	}
	if plan, _ := svc.Plan(ctx, notice(notifications.CategoryUploads, "upload_scanned", user)); len(plan) != 0 {
		t.Errorf("uploads plan = %v, want none (both channels off)", plan)
	}
	if plan, _ := svc.Plan(ctx, notice(notifications.CategoryTutors, "tutor_published", user)); len(plan) != 1 || plan[0].Channel != notifications.ChannelInbox {
		t.Errorf("tutors plan = %v, want the inbox only", plan)
	}
	if _, err := svc.DeliverEmail(ctx, sec, user); err != nil {
		t.Fatal(err)
	}
	mails := waitMails(t, email, 1)
	if len(mails) != 1 || len(mails[0].Headers["List-Unsubscribe"]) != 0 || strings.Contains(mails[0].Text, "unsubscribe") {
		t.Fatalf("security mail = %+v, want one without an unsubscribe link", mails)
	}
}

func TestEmailToARelayThatIsDownIsSentOnceWhenItIsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	user, email := newUser(t, pool, "en", "UTC")
	n := notice(notifications.CategorySecurity, "new_device_sign_in", user)
	down := notifications.New(pool, notifications.Options{Mailer: newMailer(t, "smtp://127.0.0.1:1"), PublicURL: "http://tutorhub.test"})
	for range 3 {
		if _, err := down.DeliverEmail(ctx, n, user); err == nil {
			t.Fatal("a delivery to a closed port succeeded")
		}
	}
	up := notifications.New(pool, notifications.Options{Mailer: newMailer(t, testenv.SMTPURL()), PublicURL: "http://tutorhub.test"})
	for i, want := range []string{notifications.OutcomeDelivered, notifications.OutcomeAlreadyDone} {
		if got, err := up.DeliverEmail(ctx, n, user); err != nil || got != want {
			t.Fatalf("delivery %d after the relay came back = %q, %v; want %q", i+1, got, err, want)
		}
	}
	var status string
	var attempts int32
	err := pool.QueryRow(ctx, `SELECT status, attempts FROM notification_deliveries WHERE event_id = $1 AND channel = 'email'`, n.EventID).Scan(&status, &attempts)
	if err != nil || status != "sent" || attempts != 4 {
		t.Errorf("delivery row = %s after %d attempts, %v; want sent after 4", status, attempts, err)
	}
	if mails := waitMails(t, email, 1); len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
}

func TestUnsubscribeLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	signer := newSigner(t)
	svc := notifications.New(pool, notifications.Options{Unsubscribe: signer})
	user, _ := newUser(t, pool, "en", "UTC")
	good := signer.Sign(user, notifications.CategoryTutors)
	tampered := strings.Replace(good, ".tutors.", ".uploads.", 1)
	if _, _, err := svc.Unsubscribe(ctx, tampered); !errors.Is(err, notifications.ErrBadToken) {
		t.Fatalf("tampered link = %v, want ErrBadToken", err)
	}
	prefs, _ := svc.Preferences(ctx, user)
	for _, p := range prefs {
		if !p.Enabled {
			t.Fatalf("a tampered link changed %+v", p)
		}
	}
	if id, c, err := svc.Unsubscribe(ctx, good); err != nil || id != user || c != notifications.CategoryTutors {
		t.Fatalf("Unsubscribe = %v %v %v", id, c, err)
	}
	prefs, _ = svc.Preferences(ctx, user)
	for _, p := range prefs {
		off := p.Category == notifications.CategoryTutors && p.Channel == notifications.ChannelEmail
		if p.Enabled == off {
			t.Errorf("after unsubscribing from tutors mail: %+v", p)
		}
	}
}

func TestInboxBelongsToItsUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	svc := notifications.New(pool, notifications.Options{})
	alice, _ := newUser(t, pool, "en", "UTC")
	bob, _ := newUser(t, pool, "en", "UTC")
	for range 3 {
		if _, err := svc.DeliverInbox(ctx, notice(notifications.CategorySecurity, "password_changed", alice), alice); err != nil {
			t.Fatal(err)
		}
	}
	items, _ := svc.List(ctx, notifications.ListFilter{UserID: alice, Limit: 10})
	if len(items) != 3 {
		t.Fatalf("%d items, want 3", len(items))
	}
	if _, err := svc.MarkRead(ctx, bob, items[0].ID); tutorhub.ErrorCode(err) != tutorhub.ENOTFOUND {
		t.Fatalf("Bob marking Alice's item = %v, want NOT_FOUND", err)
	}
	if n, _ := svc.MarkAllRead(ctx, bob); n != 0 {
		t.Fatalf("Bob's MarkAllRead marked %d", n)
	}
	if n, _ := svc.UnreadCount(ctx, alice); n != 3 {
		t.Fatalf("Alice's unread count = %d after Bob's calls, want 3", n)
	}
	if _, err := svc.MarkRead(ctx, alice, items[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc.UnreadCount(ctx, alice); n != 2 {
		t.Fatalf("unread = %d, want 2", n)
	}
	page, _ := svc.List(ctx, notifications.ListFilter{UserID: alice, Limit: 2})
	rest, _ := svc.List(ctx, notifications.ListFilter{UserID: alice, Limit: 2, After: &notifications.Position{Time: page[1].CreatedAt, ID: page[1].ID}})
	if len(page) != 2 || len(rest) != 1 || rest[0].ID == page[0].ID || rest[0].ID == page[1].ID {
		t.Fatalf("pages %v / %v", page, rest)
	}
}

func TestHubFeedsWatchersAndBoundsThem(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := testenv.Postgres(t)
	svc := notifications.New(pool, notifications.Options{})
	hub := notifications.NewHub(pool, svc, notifications.HubOptions{MaxPerUser: 2, ListenURL: testenv.ListenURL(pool)})
	done := make(chan struct{})
	go func() { defer close(done); hub.Run(ctx) }()
	select {
	case <-hub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the hub did not start listening")
	}
	user, _ := newUser(t, pool, "en", "UTC")
	a, err := hub.Subscribe(user)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hub.Subscribe(user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Subscribe(user); tutorhub.ErrorCode(err) != tutorhub.ERATELIMIT {
		t.Fatalf("a third stream = %v, want ERATELIMIT", err)
	}
	n := notice(notifications.CategorySecurity, "password_changed", user)
	if _, err := svc.DeliverInbox(context.Background(), n, user); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*notifications.Subscription{a, b} {
		select {
		case item := <-s.C:
			if item.EventID != n.EventID {
				t.Fatalf("got %+v", item)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a watcher did not get the new item within 10s")
		}
	}
	a.Close()
	if c, err := hub.Subscribe(user); err != nil {
		t.Fatalf("a stream after one closed = %v", err)
	} else {
		c.Close()
	}
	cancel()
	<-done
	select {
	case <-b.Done():
		if !errors.Is(b.Err(), notifications.ErrStopped) {
			t.Fatalf("end = %v, want ErrStopped", b.Err())
		}
	default:
		t.Fatal("a subscription outlived the hub")
	}
}
