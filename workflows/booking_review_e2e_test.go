package workflows_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/activities"
	"github.com/tutorhub/tutorhub/bookings"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// TestBookingToReviewEndToEnd takes one booking from the request to the student's review with
// the real activities: the bookings service on PostgreSQL and the payments service over
// stripe-mock, run by BookingLifecycle in the SDK's test environment, which skips the two days
// to the lesson. The relay's part is played from the outbox rows (the route, the run's id and
// input of each event); the payment arrives as Stripe sends it: a signed
// payment_intent.succeeded received through the webhook's path (ReceiveWebhook, delivered
// twice), applied by PaymentWebhook's activity (ApplyPaymentEvent, twice) and signalled to the
// booking's run as PaymentWebhook's SignalBooking does. Then:
//   - the booking is confirmed once, its charge paid with one balanced journal;
//   - the 24 h and the 1 h reminder are recorded once each, at their times in the workflow's
//     clock, and a repeated reminder records nothing; a review before the lesson is refused;
//   - the lesson completes at its end (the workflow's time), and the run ends completed;
//   - the student's review is stored once (a second one is EEXISTS, AlreadyExists over the API),
//     and GetTutor's profile, read (and cached) before, shows one review and its rating;
//   - where the Temporal dev server runs, NotifyFanout, started for each reminder as the relay
//     starts it, puts both reminders in both sides' inboxes and mails them through Mailpit.
func TestBookingToReviewEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute) // wall time the run may sit idle (real activities only)

	db := testenv.Postgres(t)
	rdb, prefix := testenv.Redis(t)
	profiles := tutors.New(db, tutors.Options{Cache: cache.New(rdb, cache.Options{Prefix: prefix + "cache:"})})
	// The bookings service reads the workflow's clock, as the API's would read the wall clock
	// at the moments the test environment skips to.
	e := &bookingE2E{db: db, svc: bookings.New(db, bookings.Options{Now: env.Now, Reviewed: profiles.Invalidate})}
	e.addParties(t)
	pay := payments.New(db, payments.Options{StripeAPIURL: testenv.Stripe(t), StripeSecretKey: testenv.StripeKey, PlatformFeeBPS: 1000})
	workflows.RegisterBookings(env)
	activities.RegisterBookings(env, &activities.BookingActivities{Bookings: e.svc, Charger: pay})

	// When, in the workflow's clock, each activity ran, with the reminder or the time it was given.
	var mu sync.Mutex
	ran := map[string][]time.Time{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		key := info.ActivityType.Name
		at := env.Now()
		switch key {
		case activities.RemindBookingName:
			var in activities.RemindInput
			if err := args.Get(&in); err == nil {
				key += " " + in.Kind
			}
		case activities.CompleteBookingName:
			var in activities.TimedInput
			if err := args.Get(&in); err == nil {
				at = in.At
			}
		}
		mu.Lock()
		defer mu.Unlock()
		ran[key] = append(ran[key], at)
	})

	lesson := env.Now().UTC().Truncate(time.Hour).Add(50 * time.Hour)
	b, err := e.svc.RequestBooking(ctx, e.student, bookings.Request{TutorID: e.tutorID, Start: lesson, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("booking %s, lesson %s", b.ID, b.StartsAt.Format(time.RFC3339))
	requested := bookingEvents(t, db, b.ID, bookings.EventRequested)
	if len(requested) != 1 {
		t.Fatalf("%d booking.requested events, want 1", len(requested))
	}
	route, input := relayRoute(t, requested[0])
	if route.Workflow != workflows.BookingLifecycleName || route.WorkflowID(requested[0]) != workflows.BookingLifecycleID(b.ID) {
		t.Fatalf("booking.requested starts %s %q", route.Workflow, route.WorkflowID(requested[0]))
	}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: route.WorkflowID(requested[0])})

	// A minute later the tutor accepts; the booking.accepted event's run (SignalBooking) tells
	// the booking's run.
	env.RegisterDelayedCallback(func() {
		if _, err := e.svc.Accept(ctx, e.tutor, b.ID); err != nil {
			t.Fatal(err)
		}
		accepted := bookingEvents(t, db, b.ID, bookings.EventAccepted)
		if len(accepted) != 1 {
			t.Fatalf("%d booking.accepted events, want 1", len(accepted))
		}
		if r, in := relayRoute(t, accepted[0]); r.Workflow != workflows.SignalBookingName || in != (workflows.BookingLifecycleInput{BookingID: b.ID}) {
			t.Fatalf("booking.accepted starts %s with %+v, want SignalBooking of the booking", r.Workflow, in)
		}
		if err := env.SignalWorkflowByID(workflows.BookingLifecycleID(b.ID), workflows.SignalBookingChanged, nil); err != nil {
			t.Fatal(err)
		}
	}, time.Minute)

	// A minute after that the student has paid: Stripe's event arrives through the webhook.
	var charge payments.Charge
	env.RegisterDelayedCallback(func() {
		var applied []payments.Applied
		charge, applied = payWebhook(t, &suite, pay, db, b.ID)
		for _, a := range applied { // as SignalBooking sends them
			if err := env.SignalWorkflowByID(payments.BookingWorkflowID(a.Outcome.BookingID), a.Signal, a.Outcome); err != nil {
				t.Fatal(err)
			}
		}
	}, 2*time.Minute)

	// Half an hour before the lesson both reminders have gone out, once each; a reminder
	// repeated (an activity retried after its answer was lost) records nothing, and the lesson
	// cannot be reviewed yet.
	env.RegisterDelayedCallback(func() {
		got, err := e.svc.Load(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != bookings.StateConfirmed || !slices.Equal(got.Reminders, []string{"24h", "1h"}) {
			t.Fatalf("half an hour before the lesson: %s with reminders %v, want confirmed with 24h and 1h", got.State, got.Reminders)
		}
		aenv := suite.NewTestActivityEnvironment()
		activities.RegisterBookings(aenv, &activities.BookingActivities{Bookings: e.svc, Charger: pay})
		if _, err := aenv.ExecuteActivity(activities.RemindBookingName, activities.RemindInput{BookingID: b.ID, Kind: "1h"}); err != nil {
			t.Fatal(err)
		}
		if n := len(bookingEvents(t, db, b.ID, bookings.EventReminder)); n != 2 {
			t.Fatalf("%d reminder events after a repeated reminder, want 2", n)
		}
		if _, err := e.svc.CreateReview(ctx, e.student, b.ID, 5, "Too early."); tutorhub.ErrorCode(err) != tutorhub.EPRECONDITION {
			t.Fatalf("a review before the lesson: %v, want %s", err, tutorhub.EPRECONDITION)
		}
	}, lesson.Add(-30*time.Minute).Sub(env.Now()))

	env.ExecuteWorkflow(route.Workflow, input)
	if !env.IsWorkflowCompleted() {
		t.Fatal("BookingLifecycle did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("BookingLifecycle failed: %v", err)
	}
	var res workflows.BookingLifecycleResult
	if err := env.GetWorkflowResult(&res); err != nil || res.State != bookings.StateCompleted {
		t.Fatalf("BookingLifecycle ended %s (%v), want completed", res.State, err)
	}

	// PostgreSQL: the booking, its events, its charge.
	final, err := e.svc.Load(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != bookings.StateCompleted || final.ChargeStatus != payments.ChargeSucceeded || !slices.Equal(final.Reminders, []string{"24h", "1h"}) {
		t.Fatalf("booking %s, charge %s, reminders %v; want completed, succeeded, 24h and 1h", final.State, final.ChargeStatus, final.Reminders)
	}
	for typ, want := range map[string]int{
		bookings.EventRequested: 1, bookings.EventAccepted: 1, bookings.EventConfirmed: 1,
		bookings.EventReminder: 2, bookings.EventCompleted: 1, bookings.EventExpired: 0, bookings.EventCancelled: 0,
	} {
		if n := len(bookingEvents(t, db, b.ID, typ)); n != want {
			t.Errorf("%s recorded %d times, want %d", typ, n, want)
		}
	}
	var kinds []string
	for _, ev := range bookingEvents(t, db, b.ID, bookings.EventReminder) {
		var p bookings.EventPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, p.Reminder)
	}
	if !slices.Equal(kinds, []string{"24h", "1h"}) {
		t.Errorf("reminder events %v, want 24h then 1h", kinds)
	}
	if c, err := pay.GetCharge(ctx, b.ID); err != nil || c.Status != payments.ChargeSucceeded || c.ID != charge.ID {
		t.Fatalf("charge %+v (%v), want %s succeeded", c, err, charge.ID)
	}
	var journals int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM ledger_journals WHERE charge_id = $1 AND kind = 'charge_succeeded'`, charge.ID).Scan(&journals); err != nil || journals != 1 {
		t.Fatalf("%d charge journals (%v), want 1", journals, err)
	}
	assertLedgerBalances(t, e, charge.ID)

	// The workflow's clock: each reminder at its time, the completion at the lesson's end.
	mu.Lock()
	for key, want := range map[string]time.Time{
		activities.RemindBookingName + " 24h": b.StartsAt.Add(-24 * time.Hour),
		activities.RemindBookingName + " 1h":  b.StartsAt.Add(-time.Hour),
		activities.CompleteBookingName:        b.EndsAt,
	} {
		if got := ran[key]; len(got) != 1 || !got[0].Equal(want) {
			t.Errorf("%s ran at %v, want once at %v", key, got, want)
		}
	}
	if n := len(ran[activities.ConfirmBookingName]); n != 2 {
		t.Errorf("ConfirmBooking ran %d times, want 2 (the event applied twice)", n)
	}
	mu.Unlock()

	// The review, once, and the rating on the tutor's profile (cached before the review).
	if before, err := profiles.Get(ctx, nil, e.tutorID); err != nil || before.Rating.Count != 0 {
		t.Fatalf("GetTutor before the review: %+v (%v), want no reviews", before.Rating, err)
	}
	rv, err := e.svc.CreateReview(ctx, e.student, b.ID, 4, "Clear and patient.")
	if err != nil || rv.TutorID != e.tutorID || rv.Rating != 4 {
		t.Fatalf("CreateReview: %+v (%v)", rv, err)
	}
	if _, err := e.svc.CreateReview(ctx, e.student, b.ID, 5, "Again."); tutorhub.ErrorCode(err) != tutorhub.EEXISTS {
		t.Fatalf("a second review: %v, want %s", err, tutorhub.EEXISTS)
	}
	after, err := profiles.Get(ctx, nil, e.tutorID)
	if err != nil || after.Rating != (tutors.Rating{Count: 1, Average: 4}) {
		t.Fatalf("GetTutor after the review: %+v (%v), want 1 review of 4", after.Rating, err)
	}

	t.Run("the reminders reach both sides through NotifyFanout and Mailpit", func(t *testing.T) {
		deliverReminders(t, db, b)
	})
}

// payWebhook pays the booking's pending charge as Stripe reports it: a payment_intent.succeeded
// event signed with the endpoint's secret is received through the webhook's path twice (stored
// once, with one outbox row); the relay's input of that row is applied twice by PaymentWebhook's
// activity, which names the signal and outcome SignalBooking sends. It returns the charge and
// what each application asks SignalBooking to send.
func payWebhook(t *testing.T, suite *testsuite.WorkflowTestSuite, pay *payments.Service, db *pgxpool.Pool, booking uuid.UUID) (payments.Charge, []payments.Applied) {
	t.Helper()
	ctx := context.Background()
	c, err := pay.GetCharge(ctx, booking)
	if err != nil || c.Status != payments.ChargePending || c.ProviderID == "" {
		t.Fatalf("charge %+v (%v) when the student pays, want a pending PaymentIntent", c, err)
	}
	evt := "evt_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:24]
	body, err := json.Marshal(map[string]any{"id": evt, "object": "event", "type": payments.EventPaymentSucceeded, "created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{"id": c.ProviderID, "object": "payment_intent", "amount": c.AmountMinor, "amount_received": c.AmountMinor,
			"currency": c.Currency, "status": "succeeded", "metadata": map[string]string{payments.MetadataBookingID: booking.String()}}}})
	if err != nil {
		t.Fatal(err)
	}
	keys := payments.WebhookKeys{Secrets: []string{"whsec_review_0123456789abcdef"}, Tolerance: 5 * time.Minute}
	for i, want := range []payments.StoreResult{payments.Stored, payments.Duplicate} {
		now := time.Now()
		got, err := pay.ReceiveWebhook(ctx, body, payments.Sign(body, keys.Secrets[0], now), keys, now)
		if err != nil || got != want {
			t.Fatalf("delivery %d of %s: %s (%v), want %s", i+1, evt, got, err, want)
		}
	}
	var rows []workflows.Event
	for _, ev := range outboxEvents(t, db, payments.EventReceived) {
		var p payments.EventPayload
		if json.Unmarshal(ev.Payload, &p) == nil && p.ProviderEventID == evt {
			rows = append(rows, ev)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("%d outbox rows for %s, want 1", len(rows), evt)
	}
	route, input := relayRoute(t, rows[0])
	in, ok := input.(workflows.PaymentWebhookInput)
	if !ok || route.Workflow != workflows.PaymentWebhookName || route.WorkflowID(rows[0]) != workflows.PaymentWebhookID(evt) || in.ProviderEventID != evt {
		t.Fatalf("the relay would start %s %q with %+v", route.Workflow, route.WorkflowID(rows[0]), input)
	}
	aenv := suite.NewTestActivityEnvironment()
	activities.RegisterPayments(aenv, &activities.PaymentActivities{Payments: pay})
	var out []payments.Applied
	for range 2 { // a retried run applies it again
		v, err := aenv.ExecuteActivity(activities.ApplyPaymentEventName, in.ProviderEventID)
		if err != nil {
			t.Fatal(err)
		}
		var applied payments.Applied
		if err := v.Get(&applied); err != nil {
			t.Fatal(err)
		}
		if applied.Signal != payments.SignalChargeSucceeded || applied.Outcome.BookingID != booking || applied.Outcome.Status != payments.ChargeSucceeded {
			t.Fatalf("ApplyPaymentEvent: %+v", applied)
		}
		out = append(out, applied)
	}
	paid, err := pay.GetCharge(ctx, booking)
	if err != nil || paid.Status != payments.ChargeSucceeded {
		t.Fatalf("charge %s (%v) after the event, want succeeded", paid.Status, err)
	}
	return paid, out
}

// deliverReminders starts NotifyFanout for each reminder event of the booking as the relay
// starts it (its route, id, input, reuse policy and search attributes) on the Temporal dev
// server, with a worker of the notifications queue that mails through the local Mailpit; each
// side then has both reminders in its inbox, once, and two reminder mails. Without the dev
// server it is skipped.
func deliverReminders(t *testing.T, db *pgxpool.Pool, b bookings.Booking) {
	tc, queue := testenv.Temporal(t)
	sender, err := mail.New(testenv.SMTPURL(), "tutorhub <no-reply@tutorhub.test>")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := notifications.NewSigner([]byte(strings.Repeat("r", 32)))
	if err != nil {
		t.Fatal(err)
	}
	prefix := queue + "/"
	w := worker.New(tc, prefix+workflows.QueueNotifications, worker.Options{})
	workflows.RegisterNotify(w)
	activities.RegisterNotify(w, &activities.NotifyActivities{Notifications: notifications.New(db, notifications.Options{
		Mailer: reminderMailer{sender}, Unsubscribe: signer, PublicURL: "http://tutorhub.test",
	})})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sides := []uuid.UUID{b.StudentID, b.TutorUserID}
	for _, ev := range bookingEvents(t, db, b.ID, bookings.EventReminder) {
		routes := workflows.RoutesFor(ev.Type)
		if len(routes) != 1 || routes[0].Workflow != workflows.NotifyFanoutName {
			t.Fatalf("routes of %s: %+v, want NotifyFanout alone", ev.Type, routes)
		}
		r := routes[0]
		in, err := r.Input(ev)
		if err != nil {
			t.Fatal(err)
		}
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: r.WorkflowID(ev), TaskQueue: prefix + r.Queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: workflows.SearchAttributes(ev),
		}, r.Workflow, in)
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.NotifyFanoutResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("NotifyFanout %s: %v", r.WorkflowID(ev), err)
		}
		delivered := map[string]int{}
		for _, d := range res.Deliveries {
			if d.Error != "" || d.Outcome != notifications.OutcomeDelivered || !slices.Contains(sides, d.Delivery.UserID) {
				t.Fatalf("delivery %+v: %q %s", d.Delivery, d.Outcome, d.Error)
			}
			delivered[string(d.Delivery.Channel)]++
		}
		if delivered[string(notifications.ChannelInbox)] != 2 || delivered[string(notifications.ChannelEmail)] != 2 {
			t.Fatalf("NotifyFanout delivered %v, want the inbox and an email to each side", delivered)
		}
	}

	for _, user := range sides {
		var inbox, sent int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'booking_reminder'`, user).Scan(&inbox); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE user_id = $1 AND channel = 'email' AND status = 'sent'`, user).Scan(&sent); err != nil {
			t.Fatal(err)
		}
		if inbox != 2 || sent != 2 {
			t.Errorf("user %s: %d reminders in the inbox, %d reminder mails sent; want 2 and 2", user, inbox, sent)
		}
		to := user.String() + "@example.com"
		deadline := time.Now().Add(15 * time.Second)
		for {
			subjects := testenv.MailSubjects(t, to, nil)
			n := 0
			for _, s := range subjects {
				if s == "Lesson reminder" {
					n++
				}
			}
			if n == 2 && len(subjects) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Mailpit holds %q for %s, want two \"Lesson reminder\" mails", subjects, to)
			}
			time.Sleep(100 * time.Millisecond) // polling interval, not a synchronisation
		}
	}
}

// reminderMailer sends notification mail through the SMTP relay, as the worker's does.
type reminderMailer struct{ s *mail.Sender }

func (m reminderMailer) Send(ctx context.Context, n notifications.Mail) error {
	return m.s.SendMessage(ctx, mail.Message{To: n.To, Subject: n.Subject, Text: n.Text, HTML: n.HTML, MessageID: n.MessageID, Headers: n.Headers})
}

// bookingEvents returns the booking's outbox events of one type, oldest first.
func bookingEvents(t testing.TB, db *pgxpool.Pool, booking uuid.UUID, eventType string) []workflows.Event {
	t.Helper()
	var out []workflows.Event
	for _, ev := range outboxEvents(t, db, eventType) {
		if ev.AggregateID == booking {
			out = append(out, ev)
		}
	}
	return out
}

// outboxEvents returns the outbox events of one type, oldest first, as the relay reads them.
func outboxEvents(t testing.TB, db *pgxpool.Pool, eventType string) []workflows.Event {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT event_id, aggregate_type, aggregate_id, event_type, payload::text, created_at
		FROM outbox WHERE event_type = $1 ORDER BY seq`, eventType)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []workflows.Event
	for rows.Next() {
		var ev workflows.Event
		var payload string
		if err := rows.Scan(&ev.ID, &ev.AggregateType, &ev.AggregateID, &ev.Type, &payload, &ev.CreatedAt); err != nil {
			t.Fatal(err)
		}
		ev.Payload = []byte(payload)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// relayRoute is the first route of an event and the input the relay starts it with.
func relayRoute(t testing.TB, ev workflows.Event) (workflows.Route, any) {
	t.Helper()
	r, ok := workflows.RouteFor(ev.Type)
	if !ok {
		t.Fatalf("no route for %s", ev.Type)
	}
	in, err := r.Input(ev)
	if err != nil {
		t.Fatalf("%s %s: %v", ev.Type, ev.ID, err)
	}
	return r, in
}
