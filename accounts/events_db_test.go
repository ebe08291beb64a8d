package accounts

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// TestSecurityEventsCommitWithTheirAuditEvent: registration remembers the first device
// without a notice; a sign-in from another device records account.new_device_sign_in once
// (not again from that device); a recovery and a password change each record their event,
// beside their audit event.
func TestSecurityEventsCommitWithTheirAuditEvent(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	s := New(db, Options{})
	id, email := uuid.New(), testenv.UniqueEmail("device")
	laptop := WithRequestInfo(context.Background(), RequestInfo{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"})
	laptopLater := WithRequestInfo(context.Background(), RequestInfo{IP: "203.0.113.99", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0"})
	phone := WithRequestInfo(context.Background(), RequestInfo{IP: "198.51.100.20", UserAgent: "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile Safari/604.1"})
	events := func() []string {
		rows, err := db.Query(context.Background(), `SELECT event_type, CAST(payload AS text) FROM outbox WHERE aggregate_id = $1 ORDER BY seq`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var typ, payload string
			if err := rows.Scan(&typ, &payload); err != nil {
				t.Fatal(err)
			}
			var p SecurityEventPayload
			if err := json.Unmarshal([]byte(payload), &p); err != nil || p.UserID != id || p.Schema != SecurityEventSchema {
				t.Fatalf("payload %s: %v", payload, err)
			}
			out = append(out, typ+" "+p.Device)
		}
		return out
	}
	steps := []struct {
		name   string
		ctx    context.Context
		action string
		want   []string
	}{
		{"registering remembers the first device quietly", laptop, AuditRegister, nil},
		{"signing in again from it, updated, on another address of its network", laptopLater, AuditLogin, nil},
		{"a sign-in from a new device is announced", phone, AuditLogin, []string{EventNewDeviceSignIn + " Chrome on network 198.51.100.0/24"}},
		{"once", phone, AuditLogin, []string{EventNewDeviceSignIn + " Chrome on network 198.51.100.0/24"}},
		{"a recovery is announced", laptop, AuditPasswordRecovered, []string{EventNewDeviceSignIn + " Chrome on network 198.51.100.0/24", EventRecoveryCompleted + " Firefox on network 203.0.113.0/24"}},
	}
	for _, st := range steps {
		if err := s.EnsureUser(st.ctx, id, email, "Ada", st.action); err != nil {
			t.Fatal(err)
		}
		if got := events(); len(got) != len(st.want) || (len(got) > 0 && got[len(got)-1] != st.want[len(st.want)-1]) {
			t.Fatalf("%s: events %v, want %v", st.name, got, st.want)
		}
	}
	if err := s.PasswordChanged(laptop, id); err != nil {
		t.Fatal(err)
	}
	got := events()
	if got[len(got)-1] != EventPasswordChanged+" Firefox on network 203.0.113.0/24" {
		t.Fatalf("after PasswordChanged: %v", got)
	}
	var audits int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE subject_id = $1 AND action = $2`, id, AuditPasswordChanged).Scan(&audits); err != nil || audits != 1 {
		t.Fatalf("password-changed audit events = %d, %v; want 1", audits, err)
	}
}
