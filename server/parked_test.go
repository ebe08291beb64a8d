package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tutorhub/tutorhub/activities"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/outbox"
	"github.com/tutorhub/tutorhub/queries"
	"github.com/tutorhub/tutorhub/search"
	"github.com/tutorhub/tutorhub/server"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

// unroutableType is an event type no release of the relay routes.
const unroutableType = "tutor.teleported"

// writeEvent inserts an outbox row as the domain would, with the given type and payload
// (nil: a valid tutor payload), and returns its event id.
func writeEvent(t *testing.T, api *testAPI, typ string, payload []byte) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	tutor := uuid.New()
	if payload == nil {
		var err error
		payload, err = json.Marshal(tutors.EventPayload{Schema: tutors.EventSchema, TutorID: tutor, UserID: uuid.New(), Version: 1})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := queries.New(api.DB).InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: tutors.Aggregate, AggregateID: tutor, EventType: typ, Payload: string(payload),
	}); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	if err := api.DB.QueryRow(ctx, "SELECT event_id FROM outbox WHERE aggregate_id = $1", tutor).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// parkAll runs one batch of a relay with the production routes over api's outbox; every event
// written by the test with an unroutable type is parked. The relay needs no Temporal for
// that: it parks before starting anything.
func parkAll(t *testing.T, api *testAPI, tc client.Client, prefix string) {
	t.Helper()
	r, err := outbox.New(api.DB, tc, outbox.Options{QueuePrefix: prefix, ListenURL: testenv.ListenURL(api.DB)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.DispatchBatch(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestParkedEventsAuthorizationMatrix calls each parked-event RPC as each kind of caller:
// only an admin may list or retry, and nobody else learns whether an event exists.
func TestParkedEventsAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tc, queue := testenv.Temporal(t)
	ctx := context.Background()
	other, admin := api.signUp(t), api.admin(t)
	callers := []struct {
		name string
		u    *testUser
		want connect.Code
	}{
		{"anonymous", nil, connect.CodeUnauthenticated},
		{"other user", other, connect.CodePermissionDenied},
		{"admin", admin, codeOK},
	}
	rows := []struct {
		rpc  string
		call func(t *testing.T, c tutorhubv1connect.AdminServiceClient) error
	}{
		{"ListParkedEvents", func(t *testing.T, c tutorhubv1connect.AdminServiceClient) error {
			_, err := c.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{})
			return err
		}},
		{"RetryParkedEvent", func(t *testing.T, c tutorhubv1connect.AdminServiceClient) error {
			id := writeEvent(t, api, unroutableType, nil)
			parkAll(t, api, tc, queue+"/")
			_, err := c.RetryParkedEvent(ctx, &tutorhubv1.RetryParkedEventRequest{Id: id.String()})
			var parked bool
			if err := api.DB.QueryRow(ctx, "SELECT parked_at IS NOT NULL FROM outbox WHERE event_id = $1", id).Scan(&parked); err != nil {
				t.Fatal(err)
			}
			if parked == (err == nil) {
				t.Errorf("after a retry answered %v, the event parked = %v", err, parked)
			}
			return err
		}},
	}
	for _, row := range rows {
		if got := server.AccessRules["/"+tutorhubv1connect.AdminServiceName+"/"+row.rpc].Who; got != server.AdminOnly {
			t.Errorf("%s: access rule %v, want admin", row.rpc, got)
		}
		for _, c := range callers {
			t.Run(row.rpc+"/"+c.name, func(t *testing.T) {
				var opts []connect.ClientOption
				if c.u != nil {
					opts = append(opts, c.u.opt())
				}
				err := row.call(t, tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, opts...))
				if c.want == codeOK {
					if err != nil {
						t.Fatalf("%s as %s: %v, want success", row.rpc, c.name, err)
					}
					return
				}
				wantCode(t, err, c.want)
			})
		}
	}
}

// TestAParkedEventIsListedRetriedAndDispatched follows an event the relay cannot route: it is
// parked with its reason, an admin finds it (by type, in pages, with its payload), retries
// it, and a relay of a release that routes the type dispatches it to a workflow that runs.
func TestAParkedEventIsListedRetriedAndDispatched(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tc, queue := testenv.Temporal(t)
	prefix := queue + "/"
	ctx := context.Background()
	admin := api.admin(t)
	admins := tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, admin.opt())

	first := writeEvent(t, api, unroutableType, nil)
	huge := writeEvent(t, api, unroutableType, []byte(`{"schema":1,"note":"`+strings.Repeat("x", outbox.MaxPayloadBytes)+`"}`))
	malformed := writeEvent(t, api, tutors.EventUpdated, []byte(`{"schema":99}`))
	dispatched := writeEvent(t, api, tutors.EventUpdated, nil)
	w := worker.New(tc, prefix+workflows.QueueSearch, worker.Options{})
	workflows.RegisterSearch(w)
	activities.RegisterSearch(w, &activities.SearchActivities{
		Tutors: tutors.New(api.DB, tutors.Options{}),
		Engine: search.NewPostgres(api.DB, pagetoken.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))),
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	parkAll(t, api, tc, prefix)

	all, err := admins.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range all.GetEvents() {
		ids = append(ids, e.GetId())
	}
	if want := []string{malformed.String(), huge.String(), first.String()}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("parked events %v, want %v (newest first, the dispatched %s left out)", ids, want, dispatched)
	}
	e := all.GetEvents()[2]
	if e.GetType() != unroutableType || e.GetAggregateType() != tutors.Aggregate || !strings.Contains(e.GetReason(), "unroutable") ||
		e.GetCreateTime() == nil || e.GetParkTime() == nil || e.GetPayloadSize() != int64(len(e.GetPayload())) || !strings.Contains(e.GetPayload(), `"version"`) {
		t.Errorf("parked event = %v; want its type, aggregate, reason, times and payload", e)
	}
	if big := all.GetEvents()[1]; big.GetPayload() != "" || big.GetPayloadSize() <= outbox.MaxPayloadBytes {
		t.Errorf("a payload over %d bytes: payload %d bytes, size %d; want only its size", outbox.MaxPayloadBytes, len(big.GetPayload()), big.GetPayloadSize())
	}
	if m := all.GetEvents()[0]; !strings.Contains(m.GetReason(), "malformed") {
		t.Errorf("the malformed event's reason: %q", m.GetReason())
	}

	t.Run("filters by type", func(t *testing.T) {
		res, err := admins.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{Type: tutors.EventUpdated})
		if err != nil || len(res.GetEvents()) != 1 || res.GetEvents()[0].GetId() != malformed.String() {
			t.Fatalf("parked %s events: %v, %v; want only the malformed one", tutors.EventUpdated, res, err)
		}
	})
	t.Run("pages cover the list once", func(t *testing.T) {
		var paged []string
		req := &tutorhubv1.ListParkedEventsRequest{PageSize: 1}
		for i := 0; ; i++ {
			if i > 5 {
				t.Fatal("pagination does not terminate")
			}
			res, err := admins.ListParkedEvents(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.GetEvents() {
				paged = append(paged, e.GetId())
			}
			if res.GetNextPageToken() == "" {
				break
			}
			req = &tutorhubv1.ListParkedEventsRequest{PageSize: 1, PageToken: res.GetNextPageToken()}
		}
		if strings.Join(paged, ",") != strings.Join(ids, ",") {
			t.Errorf("pages %v, want %v", paged, ids)
		}
	})
	t.Run("bad input is refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"a tampered page token", func() error {
				_, err := admins.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{PageToken: "bm90IGEgdG9rZW4"})
				return err
			}},
			{"a page token of another filter", func() error {
				res, err := admins.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{PageSize: 1})
				if err != nil {
					t.Fatal(err)
				}
				_, err = admins.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{PageSize: 1, Type: unroutableType, PageToken: res.GetNextPageToken()})
				return err
			}},
			{"a page size over 100", func() error {
				_, err := admins.ListParkedEvents(ctx, &tutorhubv1.ListParkedEventsRequest{PageSize: 101})
				return err
			}},
			{"a retry of something that is not a UUID", func() error {
				_, err := admins.RetryParkedEvent(ctx, &tutorhubv1.RetryParkedEventRequest{Id: "42"})
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), connect.CodeInvalidArgument) })
		}
		for _, tc := range []struct{ name, id string }{
			{"an unknown event", uuid.NewString()},
			{"an event that was dispatched, never parked", dispatched.String()},
		} {
			t.Run("a retry of "+tc.name+" is not found", func(t *testing.T) {
				_, err := admins.RetryParkedEvent(ctx, &tutorhubv1.RetryParkedEventRequest{Id: tc.id})
				wantCode(t, err, connect.CodeNotFound)
			})
		}
	})

	// Over REST, as an operator's script would.
	status, _, body := do(t, http.MethodPost, api.URL+"/api/v1/admin/parked-events/"+first.String()+":retry", "{}",
		map[string]string{"Authorization": "Bearer " + admin.AccessToken, "Content-Type": "application/json"})
	if status != http.StatusOK || !strings.Contains(string(body), first.String()) {
		t.Fatalf("REST retry: %d %s", status, body)
	}
	var retried struct {
		Event map[string]any `json:"event"`
	}
	if err := json.Unmarshal(body, &retried); err != nil || retried.Event["reason"] != nil || retried.Event["parkTime"] != nil {
		t.Errorf("the retried event %s (%v): want no reason or park time left", body, err)
	}
	_, err = admins.RetryParkedEvent(ctx, &tutorhubv1.RetryParkedEventRequest{Id: first.String()})
	wantCode(t, err, connect.CodeNotFound)
	audit, err := admins.ListAuditEvents(ctx, &tutorhubv1.ListAuditEventsRequest{Action: outbox.AuditEventRetried})
	if err != nil || len(audit.GetEvents()) != 1 || audit.GetEvents()[0].GetActorId() != admin.ID || audit.GetEvents()[0].GetDetails()["event_id"] != first.String() {
		t.Errorf("audit of the retry: %v, %v; want one event by the admin naming the event", audit, err)
	}
	status, _, body = do(t, http.MethodGet, api.URL+"/api/v1/admin/parked-events?type="+unroutableType, "",
		map[string]string{"Authorization": "Bearer " + admin.AccessToken})
	if status != http.StatusOK || strings.Contains(string(body), first.String()) || !strings.Contains(string(body), huge.String()) {
		t.Errorf("REST list after the retry: %d %s; want the huge event only", status, body)
	}

	// A release that routes the type: the retried event is dispatched, and its workflow runs.
	route, _ := workflows.RouteFor(tutors.EventUpdated)
	fixed, err := outbox.New(api.DB, tc, outbox.Options{QueuePrefix: prefix, ListenURL: testenv.ListenURL(api.DB), Route: func(typ string) (workflows.Route, bool) {
		if typ == unroutableType {
			return route, true
		}
		return workflows.RouteFor(typ)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixed.DispatchBatch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fixed.Stats(); got.Started != 1 || got.Parked != 0 {
		t.Fatalf("relay stats after the retry: %+v; want the retried event started, nothing parked", got)
	}
	var workflowID string
	if err := api.DB.QueryRow(ctx, "SELECT workflow_id FROM outbox WHERE event_id = $1 AND processed_at IS NOT NULL", first).Scan(&workflowID); err != nil {
		t.Fatalf("the retried event is not dispatched: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s did not complete within 30s: %v %v", workflowID, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
