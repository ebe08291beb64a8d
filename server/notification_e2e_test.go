package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/activities"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

type mailSender struct{ s *mail.Sender }

func (m mailSender) Send(ctx context.Context, n notifications.Mail) error {
	return m.s.SendMessage(ctx, mail.Message{To: n.To, Subject: n.Subject, Text: n.Text, HTML: n.HTML, MessageID: n.MessageID, Headers: n.Headers})
}

// notifyWorker runs what `tutorhub worker` runs for notifications, in process, on task queues
// of the test's own: the outbox relay and the notifications queue, mailing through the local
// Mailpit. It returns the Temporal client and the queue prefix.
func notifyWorker(t testing.TB, api *testAPI) (waitRun func(eventType string) uuid.UUID) {
	t.Helper()
	tc, queue := testenv.Temporal(t)
	prefix := queue + "/"
	sender, err := mail.New(testenv.SMTPURL(), "tutorhub <no-reply@tutorhub.test>")
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, prefix+workflows.QueueNotifications, worker.Options{})
	workflows.RegisterNotify(w)
	activities.RegisterNotify(w, &activities.NotifyActivities{Notifications: notifications.New(api.DB, notifications.Options{
		Mailer: mailSender{sender}, Unsubscribe: testUnsubscribeSigner(t), PublicURL: api.URL,
	})})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	relay, err := outbox.New(api.DB, tc, outbox.Options{QueuePrefix: prefix, PollInterval: 200 * time.Millisecond, ListenURL: testenv.ListenURL(api.DB)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	seen := map[uuid.UUID]bool{}
	// waitRun waits for the next event of eventType and for its NotifyFanout run to finish.
	return func(eventType string) uuid.UUID {
		t.Helper()
		var id uuid.UUID
		deadline := time.Now().Add(30 * time.Second)
		for id == uuid.Nil {
			rows, err := api.DB.Query(context.Background(), "SELECT event_id FROM outbox WHERE event_type = $1 ORDER BY seq", eventType)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var e uuid.UUID
				if err := rows.Scan(&e); err != nil {
					t.Fatal(err)
				}
				if !seen[e] && id == uuid.Nil {
					id = e
				}
			}
			rows.Close()
			if id == uuid.Nil {
				if time.Now().After(deadline) {
					t.Fatalf("no %s event was recorded within 30s", eventType)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		seen[id] = true
		rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer rcancel()
		// The relay starts the run; until then GetWorkflow finds nothing.
		for {
			var res workflows.NotifyFanoutResult
			err := tc.GetWorkflow(rctx, "notify/"+id.String(), "").Get(rctx, &res)
			if err == nil {
				for _, d := range res.Deliveries {
					if d.Error != "" {
						t.Fatalf("delivery %+v failed: %s", d.Delivery, d.Error)
					}
				}
				return id
			}
			if rctx.Err() != nil {
				t.Fatalf("NotifyFanout of %s did not finish within 60s: %v", id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// mailpitSubjects lists the subjects of the mail Mailpit holds for `to`.
func mailpitSubjects(t *testing.T, to string) []string {
	t.Helper()
	res, err := http.Get(testenv.MailpitURL() + "/api/v1/search?query=" + url.QueryEscape(fmt.Sprintf("to:%q", to)))
	if err != nil {
		t.Fatalf("Mailpit: %v", err)
	}
	defer res.Body.Close()
	var list struct {
		Messages []struct{ Subject string } `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range list.Messages {
		out = append(out, m.Subject)
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestChangingThePasswordNotifiesOnceByMailInboxAndStream runs the whole path against the
// real Kratos, PostgreSQL, Redis, Temporal and Mailpit: ChangePassword records the event in
// its transaction, the relay starts NotifyFanout, which puts one item in the inbox (pushed to
// a watching client) and sends one mail. Unsubscribing from tutor mail then stops that mail
// and not the security mail.
func TestChangingThePasswordNotifiesOnceByMailInboxAndStream(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t, withNotifications(t, time.Second))
	waitRun := notifyWorker(t, api)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u := api.signUp(t)
	notes := api.notificationClient(u)
	stream, err := notes.WatchNotifications(ctx, &tutorhubv1.WatchNotificationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("watch: %v", stream.Err())
	}

	changePassword := func() {
		t.Helper()
		newPassword := "notified passphrase " + testenv.RandomID()
		api.noteSecrets(t, newPassword)
		auth := tutorhubv1connect.NewAuthServiceClient(http.DefaultClient, api.URL, connect.WithInterceptors(authorization(u.AccessToken)))
		res, err := auth.ChangePassword(ctx, &tutorhubv1.ChangePasswordRequest{
			CurrentPassword: u.Password, NewPassword: newPassword, SessionToken: u.SessionToken,
		})
		if err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		api.noteSecrets(t, res.GetAccessToken())
		u.Password, u.AccessToken = newPassword, res.GetAccessToken()
		notes = api.notificationClient(u)
	}
	changePassword()
	// The watching client gets the item within a bounded time.
	pushed := make(chan *tutorhubv1.Notification, 1)
	go func() {
		for stream.Receive() {
			if n := stream.Msg().GetNotification(); n != nil {
				pushed <- n
				return
			}
		}
	}()
	select {
	case n := <-pushed:
		if n.GetKind() != "password_changed" || n.GetCategory() != "security" {
			t.Fatalf("pushed %v", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the watching client got no notification within 30s of the password change")
	}
	waitRun(accounts.EventPasswordChanged)
	list, err := notes.ListNotifications(ctx, &tutorhubv1.ListNotificationsRequest{})
	if err != nil || len(list.GetNotifications()) != 1 || list.GetNotifications()[0].GetKind() != "password_changed" {
		t.Fatalf("inbox = %v, %v; want exactly one password_changed item", list, err)
	}
	const subject = "Your password was changed"
	if got := countOf(mailpitSubjects(t, u.Email), subject); got != 1 {
		t.Fatalf("%d %q mails to %s, want exactly 1", got, subject, u.Email)
	}

	// One-click unsubscribe from tutor mail (the link a tutor notice carries).
	link := api.URL + notifications.UnsubscribePath + "?token=" + url.QueryEscape(testUnsubscribeSigner(t).Sign(uuid.MustParse(u.ID), notifications.CategoryTutors))
	if status, _, body := do(t, http.MethodPost, link, "List-Unsubscribe=One-Click", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); status != http.StatusOK {
		t.Fatalf("unsubscribe: %d %s", status, body)
	}
	// A tutor notice (the owner's profile published) and a second password change.
	tutorID := uuid.New()
	payload, _ := json.Marshal(tutors.EventPayload{Schema: tutors.EventSchema, TutorID: tutorID, UserID: uuid.MustParse(u.ID), Version: 2, Published: true})
	err = queries.New(api.DB).InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: tutors.Aggregate, AggregateID: tutorID, EventType: tutors.EventPublished, Payload: string(payload)})
	if err != nil {
		t.Fatal(err)
	}
	tutorEvent := waitRun(tutors.EventPublished)
	// Nothing serves the test's search queue: end the indexing run the same event started.
	t.Cleanup(func() {
		tc, _ := testenv.Temporal(t)
		var wf string
		_ = api.DB.QueryRow(context.Background(), "SELECT workflow_id FROM outbox WHERE event_id = $1", tutorEvent).Scan(&wf)
		_ = tc.TerminateWorkflow(context.Background(), wf, "", "test done")
	})
	changePassword()
	waitRun(accounts.EventPasswordChanged)
	subjects := mailpitSubjects(t, u.Email)
	if got := countOf(subjects, subject); got != 2 {
		t.Errorf("%d %q mails after the second change, want 2 (security mail cannot be turned off)", got, subject)
	}
	if got := countOf(subjects, "Your tutor profile is live"); got != 0 {
		t.Errorf("%d tutor mails after unsubscribing from them, want 0", got)
	}
	list, _ = notes.ListNotifications(ctx, &tutorhubv1.ListNotificationsRequest{})
	kinds := []string{}
	for _, n := range list.GetNotifications() {
		kinds = append(kinds, n.GetKind())
	}
	if strings.Join(kinds, ",") != "password_changed,tutor_published,password_changed" {
		t.Errorf("inbox kinds newest first = %v; the tutor notice still reaches the inbox", kinds)
	}
}
