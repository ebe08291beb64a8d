package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/gen/tutorhub/v1/tutorhubv1connect"
	"github.com/tutorhub/tutorhub/payments"
	"github.com/tutorhub/tutorhub/server"
)

// TestPaymentAdminListings: only an admin lists reconciliation reports and parked payment
// events (anonymous: UNAUTHENTICATED; a student, a tutor, a service account: PERMISSION_DENIED),
// and the admin sees the report with its drift and the parked event, in pages.
func TestPaymentAdminListings(t *testing.T) {
	t.Parallel()
	w := newBookingWorld(t)
	api := w.api
	ctx := context.Background()
	_, _, key := api.serviceAccountKey(t, w.admin, "tutors:read")

	// One parked event (a type tutorhub does not apply) and two reports, one with drift.
	evt := "evt_" + uuid.NewString()[:24]
	body, _ := json.Marshal(map[string]any{"id": evt, "object": "event", "type": "customer.created", "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": "cus_1", "object": "customer"}}})
	if r, err := payments.New(api.DB, payments.Options{}).StoreEvent(ctx, body); err != nil || r != payments.Parked {
		t.Fatalf("StoreEvent = %v, %v", r, err)
	}
	charge := uuid.New()
	if _, err := api.DB.Exec(ctx, `INSERT INTO payment_reconciliation_reports (window_start, window_end, checked, drift_count, drift, created_at) VALUES
		(now() - interval '2 hours', now() - interval '1 hour', 3, 0, '[]', now() - interval '1 hour'),
		(now() - interval '1 hour', now(), 4, 1, jsonb_build_array(jsonb_build_object('kind', 'provider_amount', 'charge_id', $1::text, 'detail', 'amount 100, want 200')), now())`, charge); err != nil {
		t.Fatal(err)
	}

	callers := []struct {
		name string
		opts []connect.ClientOption
		want connect.Code
	}{
		{"anonymous", nil, connect.CodeUnauthenticated},
		{"student", []connect.ClientOption{w.student.opt()}, connect.CodePermissionDenied},
		{"tutor", []connect.ClientOption{w.tutor.opt()}, connect.CodePermissionDenied},
		{"service account", []connect.ClientOption{connect.WithInterceptors(bearer(key))}, connect.CodePermissionDenied},
		{"admin", []connect.ClientOption{w.admin.opt()}, codeOK},
	}
	for _, rpc := range []string{"ListReconciliationReports", "ListParkedPaymentEvents"} {
		rule := server.AccessRules["/"+tutorhubv1connect.AdminServiceName+"/"+rpc]
		if rule.Who != server.AdminOnly || rule.ServiceAccounts != server.NoServiceAccounts {
			t.Errorf("%s: access rule %+v, want admin only", rpc, rule)
		}
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			admin := tutorhubv1connect.NewAdminServiceClient(http.DefaultClient, api.URL, c.opts...)
			reports, err := admin.ListReconciliationReports(ctx, &tutorhubv1.ListReconciliationReportsRequest{PageSize: 1})
			events, err2 := admin.ListParkedPaymentEvents(ctx, &tutorhubv1.ListParkedPaymentEventsRequest{})
			if c.want != codeOK {
				wantCode(t, err, c.want)
				wantCode(t, err2, c.want)
				return
			}
			if err != nil || err2 != nil {
				t.Fatalf("as admin: %v, %v", err, err2)
			}
			got := reports.GetReports()
			if len(got) != 1 || got[0].GetDriftCount() != 1 || len(got[0].GetDrift()) != 1 ||
				got[0].GetDrift()[0].GetChargeId() != charge.String() || got[0].GetDrift()[0].GetKind() != "provider_amount" {
				t.Fatalf("first page %v", got)
			}
			if reports.GetNextPageToken() == "" {
				t.Fatal("no next page after one of two reports")
			}
			more, err := admin.ListReconciliationReports(ctx, &tutorhubv1.ListReconciliationReportsRequest{PageSize: 1, PageToken: reports.GetNextPageToken()})
			if err != nil || len(more.GetReports()) != 1 || more.GetReports()[0].GetDriftCount() != 0 || more.GetNextPageToken() != "" {
				t.Fatalf("second page %v, %v", more, err)
			}
			if e := events.GetEvents(); len(e) != 1 || e[0].GetProviderEventId() != evt || e[0].GetType() != "customer.created" {
				t.Fatalf("parked events %v", e)
			}
		})
	}
}
