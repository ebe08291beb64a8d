package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
)

// BenchmarkNotifyLatency records security events at a fixed rate (10 per second, 50 events)
// and measures, per event, the time from its outbox row to its inbox item (event-to-inbox)
// and to its mail's arrival in Mailpit (event-to-mail), through the real relay, Temporal,
// NotifyFanout and SMTP. Metrics: events/s, inbox-p50-ms, inbox-p99-ms, mail-p50-ms,
// mail-p99-ms.
func BenchmarkNotifyLatency(b *testing.B) {
	const (
		events = 50
		rate   = 10 // per second
	)
	for b.Loop() {
		b.StopTimer()
		api := newTestAPI(b)
		notifyWorker(b, api)
		ctx := context.Background()
		q := queries.New(api.DB)
		users := map[uuid.UUID]string{}
		for range events {
			id, email := uuid.New(), testenv.UniqueEmail("bench-notify")
			if err := q.EnsureUser(ctx, queries.EnsureUserParams{ID: id, Email: email}); err != nil {
				b.Fatal(err)
			}
			users[id] = email
		}
		b.StartTimer()
		tick := time.NewTicker(time.Second / rate)
		for id := range users {
			<-tick.C
			payload, _ := json.Marshal(accounts.SecurityEventPayload{Schema: accounts.SecurityEventSchema, UserID: id, OccurredAt: time.Now(), Device: "bench"})
			if err := q.InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
				AggregateType: accounts.UserAggregate, AggregateID: id, EventType: accounts.EventPasswordChanged, Payload: string(payload),
			}); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var sent int
			if err := api.DB.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE status = 'sent'`).Scan(&sent); err != nil {
				b.Fatal(err)
			}
			if sent == 2*events {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d deliveries done within 3 minutes", sent, 2*events)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		var inbox, mail []time.Duration
		rows, err := api.DB.Query(ctx, `SELECT o.aggregate_id, o.created_at, n.created_at FROM outbox o JOIN notifications n ON n.event_id = o.event_id`)
		if err != nil {
			b.Fatal(err)
		}
		recorded := map[uuid.UUID]time.Time{}
		for rows.Next() {
			var id uuid.UUID
			var at, in time.Time
			if err := rows.Scan(&id, &at, &in); err != nil {
				b.Fatal(err)
			}
			recorded[id] = at
			inbox = append(inbox, in.Sub(at))
		}
		rows.Close()
		for id, email := range users {
			arrived := mailArrival(b, email)
			mail = append(mail, arrived.Sub(recorded[id]))
		}
		b.ReportMetric(rate, "events/s")
		reportPercentiles(b, "inbox", inbox)
		reportPercentiles(b, "mail", mail)
		b.StartTimer()
	}
}

func reportPercentiles(b *testing.B, name string, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"-p99-ms")
}

// mailArrival is when Mailpit received the (only) mail to `to`.
func mailArrival(b *testing.B, to string) time.Time {
	res, err := http.Get(testenv.MailpitURL() + "/api/v1/search?query=" + url.QueryEscape(fmt.Sprintf("to:%q", to)))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Messages []struct{ Created time.Time } `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Messages) != 1 {
		b.Fatalf("mail to %s: %d messages, %v", to, len(list.Messages), err)
	}
	return list.Messages[0].Created
}
