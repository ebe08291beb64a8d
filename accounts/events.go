package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/queries"
)

// Security events of the user aggregate: recorded in the outbox in the transaction of the
// audit event that describes the same action, so a notice goes out if and only if the
// action was recorded. Notifications consume them (the user is told of each).
const (
	// UserAggregate is the outbox aggregate type of every user event; the aggregate id is
	// the user id.
	UserAggregate = "user"

	// EventPasswordChanged: the user changed the password while signed in.
	EventPasswordChanged = "account.password_changed"
	// EventRecoveryCompleted: the account was recovered with a mailed code and given a new
	// password.
	EventRecoveryCompleted = "account.recovery_completed"
	// EventNewDeviceSignIn: the user signed in from a device (see DeviceOf) not seen before
	// on an account that had signed in from another device already.
	EventNewDeviceSignIn = "account.new_device_sign_in"
)

// SecurityEventSchema is the version of SecurityEventPayload; consumers refuse versions they
// do not know.
const SecurityEventSchema = 1

// SecurityEventPayload is the payload of every security event.
type SecurityEventPayload struct {
	Schema     int       `json:"schema"`
	UserID     uuid.UUID `json:"user_id"`
	OccurredAt time.Time `json:"occurred_at"`
	// Device describes the device of the request (DeviceOf's Label), never the raw address
	// or user agent.
	Device string `json:"device,omitempty"`
}

// Device is what tutorhub remembers of where a user signs in from: the user agent's family
// and the client's network (IPv4 /24, IPv6 /48). Browsers update themselves and addresses
// change within a provider's network, so neither a version number nor a full address makes
// a sign-in "new"; a new browser family or another network does. It is a heuristic for a
// notice, not an authentication factor.
type Device struct {
	// Family is the user agent's product family ("Firefox", "Chrome", "curl", ...).
	Family string
	// Network is the client's network prefix, or "" when the address is unknown.
	Network string
}

// DeviceOf describes the device of a request from its user agent and client address.
func DeviceOf(userAgent, ip string) Device {
	d := Device{Family: UserAgentFamily(userAgent)}
	if addr, err := netip.ParseAddr(ip); err == nil {
		addr = addr.Unmap()
		bits := 24
		if addr.Is6() {
			bits = 48
		}
		if p, err := addr.Prefix(bits); err == nil {
			d.Network = p.String()
		}
	}
	return d
}

// Fingerprint is the stored form of the device: a hash, so the table holds no address.
func (d Device) Fingerprint() string {
	sum := sha256.Sum256([]byte(d.Family + "\x00" + d.Network))
	return hex.EncodeToString(sum[:])
}

// Label is how a notice names the device: "Firefox on network 203.0.113.0/24".
func (d Device) Label() string {
	if d.Network == "" {
		return d.Family
	}
	return d.Family + " on network " + d.Network
}

// browserFamilies are checked in order: several browsers name the others in their user
// agent (Edge says Chrome and Safari, Chrome says Safari).
var browserFamilies = []struct{ token, family string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chromium/", "Chrome"},
	{"Chrome/", "Chrome"}, {"Safari/", "Safari"},
}

// UserAgentFamily names the product family of a user agent: a known browser, else the first
// product token ("curl/8.5" -> "curl"), at most 32 bytes of letters, digits, '-', '_' and
// '.', or "unknown".
func UserAgentFamily(ua string) string {
	for _, b := range browserFamilies {
		if strings.Contains(ua, b.token) {
			return b.family
		}
	}
	first, _, _ := strings.Cut(strings.TrimSpace(ua), " ")
	first, _, _ = strings.Cut(first, "/")
	var sb strings.Builder
	for _, r := range first {
		if sb.Len() >= 32 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			sb.WriteRune(r)
		}
	}
	if sb.Len() == 0 || first == "Mozilla" {
		return "unknown"
	}
	return sb.String()
}

// insertSecurityEvent records a security event of user id in tx, with the request's device.
func insertSecurityEvent(ctx context.Context, tx DBTX, event string, id uuid.UUID, device string, now time.Time) error {
	payload, err := json.Marshal(SecurityEventPayload{Schema: SecurityEventSchema, UserID: id, OccurredAt: now.UTC(), Device: device})
	if err != nil {
		return err
	}
	tp := telemetry.TraceParent(ctx)
	err = queries.New(tx).InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: UserAggregate, AggregateID: id, EventType: event, Payload: string(payload),
		Traceparent: pgtype.Text{String: tp, Valid: tp != ""},
	})
	if err != nil {
		return fmt.Errorf("outbox %s %s: %w", event, id, err)
	}
	return nil
}

// requestDevice is the device of the request in ctx (WithRequestInfo).
func requestDevice(ctx context.Context) Device {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return DeviceOf(ri.UserAgent, ri.IP)
}

// recordSignInDevice remembers the request's device for user id in tx and records
// EventNewDeviceSignIn when it is new and the user had signed in from another device before.
func recordSignInDevice(ctx context.Context, tx pgx.Tx, id uuid.UUID, now time.Time) error {
	d := requestDevice(ctx)
	seen, err := queries.New(tx).RecordUserDevice(ctx, queries.RecordUserDeviceParams{UserID: id, Fingerprint: d.Fingerprint()})
	if err != nil {
		return fmt.Errorf("device of %s: %w", id, err)
	}
	if seen.IsNew && seen.HadOthers {
		return insertSecurityEvent(ctx, tx, EventNewDeviceSignIn, id, d.Label(), now)
	}
	return nil
}

// PasswordChanged records that user id changed the password: the audit event and
// EventPasswordChanged, in one transaction.
func (s *Service) PasswordChanged(ctx context.Context, id uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := RecordAudit(ctx, tx, AuditEvent{Action: AuditPasswordChanged, Actor: id.String(), Subject: id.String()}); err != nil {
			return err
		}
		return insertSecurityEvent(ctx, tx, EventPasswordChanged, id, requestDevice(ctx).Label(), s.now())
	})
	if err != nil {
		return fmt.Errorf("password changed %s: %w", id, err)
	}
	return nil
}
