package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stripe/stripe-go/v85"
	"go.opentelemetry.io/otel/metric"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/queries"
)

// MaxAmountMinor bounds one charge (the provider's own limit is of the same order).
const MaxAmountMinor = 99_999_999

var currencyPattern = regexp.MustCompile(`^[a-z]{3}$`)

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options configure a Service.
type Options struct {
	// StripeAPIURL is the provider's base URL (Stripe's, or stripe-mock's); StripeSecretKey
	// authenticates to it.
	StripeAPIURL, StripeSecretKey string
	// PlatformFeeBPS is the platform's fee on each charge in basis points.
	PlatformFeeBPS int
	// HTTPClient carries the provider's requests; nil is a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger logs provider failures; nil is slog.Default().
	Logger *slog.Logger
	// Meter exports Reconcile's drift; nil exports nothing.
	Meter metric.Meter
}

// Service is the payments context: charges through the provider, the events it sends, the
// refunds and the ledger. Every provider call carries an idempotency key derived from the
// booking id, and every local write is idempotent by a business key, so nothing relies on the
// provider (or stripe-mock, which keeps no state) remembering a call.
type Service struct {
	db     DB
	q      *queries.Queries
	stripe *stripe.Client
	feeBPS int64
	log    *slog.Logger
	// metrics are Reconcile's instruments.
	metrics reconcileMetrics
}

// New returns the payments service over db and the provider at o.StripeAPIURL.
func New(db DB, o Options) *Service {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:        stripe.String(o.StripeAPIURL),
		HTTPClient: o.HTTPClient,
		// The SDK's retries of network failures reuse the idempotency key, so they are safe.
		MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &Service{
		db: db, q: queries.New(db), feeBPS: int64(o.PlatformFeeBPS), log: o.Logger, metrics: newReconcileMetrics(o.Meter),
		stripe: stripe.NewClient(o.StripeSecretKey, stripe.WithBackends(backends)),
	}
}

// Stripe is the provider client, for Reconcile's listings.
func (s *Service) Stripe() *stripe.Client { return s.stripe }

// Idempotency keys of provider calls: one per booking and operation, so a retried call (an
// activity's next attempt, a second request for the same booking) does it once.
func chargeKey(booking uuid.UUID) string { return "tutorhub-charge-" + booking.String() }
func cancelKey(booking uuid.UUID) string { return "tutorhub-cancel-" + booking.String() }
func refundKey(booking uuid.UUID) string { return "tutorhub-refund-" + booking.String() }

// Metadata keys tutorhub puts on PaymentIntents and refunds; Reconcile and the webhooks find
// the booking by them.
const (
	MetadataBookingID = "tutorhub_booking_id"
	MetadataChargeID  = "tutorhub_charge_id"
)

func chargeOf(r queries.PaymentCharge) Charge {
	return Charge{
		ID: r.ID, BookingID: r.BookingID, ProviderID: r.ProviderID.String, ClientSecret: r.ClientSecret,
		AmountMinor: r.AmountMinor, Currency: r.Currency, Status: ChargeStatus(r.Status),
	}
}

// PlatformFee is the platform's part of amount at bps basis points, rounded down.
func PlatformFee(amount, bps int64) int64 { return amount * bps / 10_000 }

func validateRequest(req ChargeRequest) error {
	var vs []tutorhub.Violation
	if req.BookingID == uuid.Nil {
		vs = append(vs, tutorhub.Violation{Field: "booking_id", Rule: "required", Message: "a booking id is required"})
	}
	if req.StudentID == uuid.Nil {
		vs = append(vs, tutorhub.Violation{Field: "student_id", Rule: "required", Message: "a student id is required"})
	}
	if req.TutorID == uuid.Nil {
		vs = append(vs, tutorhub.Violation{Field: "tutor_id", Rule: "required", Message: "a tutor id is required"})
	}
	if req.AmountMinor <= 0 || req.AmountMinor > MaxAmountMinor {
		vs = append(vs, tutorhub.Violation{Field: "amount_minor", Rule: "range", Message: fmt.Sprintf("the amount must be from 1 to %d minor units", MaxAmountMinor)})
	}
	if !currencyPattern.MatchString(req.Currency) {
		vs = append(vs, tutorhub.Violation{Field: "currency", Rule: "pattern", Message: "the currency must be an ISO 4217 code"})
	}
	if len(vs) > 0 {
		return &tutorhub.Error{Code: tutorhub.EINVALID, Message: "invalid request", Violations: vs}
	}
	return nil
}

// StartCharge creates (or returns the existing) charge of a booking and its PaymentIntent. A
// second call for the booking with other terms is EPRECONDITION.
func (s *Service) StartCharge(ctx context.Context, req ChargeRequest) (Charge, error) {
	req.Currency = strings.ToLower(req.Currency)
	if err := validateRequest(req); err != nil {
		return Charge{}, err
	}
	row, err := s.q.CreateCharge(ctx, queries.CreateChargeParams{
		BookingID: req.BookingID, StudentID: req.StudentID, TutorID: req.TutorID,
		AmountMinor: req.AmountMinor, Currency: req.Currency, FeeMinor: PlatformFee(req.AmountMinor, s.feeBPS),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		row, err = s.q.GetChargeByBooking(ctx, req.BookingID)
		if err == nil && (row.AmountMinor != req.AmountMinor || row.Currency != req.Currency ||
			row.StudentID != req.StudentID || row.TutorID != req.TutorID) {
			return Charge{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "booking %s already has a charge with other terms", req.BookingID)
		}
	}
	if err != nil {
		return Charge{}, fmt.Errorf("create charge of booking %s: %w", req.BookingID, err)
	}
	if row.ProviderID.Valid {
		return chargeOf(row), nil
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount:                  stripe.Int64(row.AmountMinor),
		Currency:                stripe.String(row.Currency),
		AutomaticPaymentMethods: &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{Enabled: stripe.Bool(true)},
		Metadata: map[string]string{
			MetadataBookingID: row.BookingID.String(), MetadataChargeID: row.ID.String(),
		},
	}
	params.SetIdempotencyKey(chargeKey(row.BookingID))
	pi, err := s.stripe.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return Charge{}, providerError("create the PaymentIntent of booking "+row.BookingID.String(), err)
	}
	updated, err := s.q.SetChargeProvider(ctx, queries.SetChargeProviderParams{
		ID: row.ID, ProviderID: pgtype.Text{String: pi.ID, Valid: true}, ClientSecret: pi.ClientSecret,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent call recorded its PaymentIntent first (with Stripe the same one, by the
		// idempotency key); the recorded one is the booking's.
		updated, err = s.q.GetChargeByBooking(ctx, row.BookingID)
	}
	if err != nil {
		return Charge{}, fmt.Errorf("record the PaymentIntent of booking %s: %w", row.BookingID, err)
	}
	return chargeOf(updated), nil
}

// GetCharge returns a booking's charge.
func (s *Service) GetCharge(ctx context.Context, bookingID uuid.UUID) (Charge, error) {
	row, err := s.q.GetChargeByBooking(ctx, bookingID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Charge{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "booking %s has no charge", bookingID)
	}
	if err != nil {
		return Charge{}, fmt.Errorf("read charge of booking %s: %w", bookingID, err)
	}
	return chargeOf(row), nil
}

// CancelCharge cancels a booking's unpaid charge at the provider and records it canceled; a
// charge that succeeded (or was refunded, canceled, failed for good) is returned as it is.
func (s *Service) CancelCharge(ctx context.Context, bookingID uuid.UUID) (Charge, error) {
	row, err := s.q.GetChargeByBooking(ctx, bookingID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Charge{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "booking %s has no charge", bookingID)
	}
	if err != nil {
		return Charge{}, fmt.Errorf("read charge of booking %s: %w", bookingID, err)
	}
	if rank(ChargeStatus(row.Status)) >= rank(ChargeCanceled) {
		return chargeOf(row), nil
	}
	if row.ProviderID.Valid {
		params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("abandoned")}
		params.SetIdempotencyKey(cancelKey(bookingID))
		if _, err := s.stripe.V1PaymentIntents.Cancel(ctx, row.ProviderID.String, params); err != nil {
			var se *stripe.Error
			if errors.As(err, &se) && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState {
				// It succeeded (or was canceled) meanwhile: its webhook records that.
				return s.GetCharge(ctx, bookingID)
			}
			return Charge{}, providerError("cancel the PaymentIntent of booking "+bookingID.String(), err)
		}
	}
	var out Charge
	err = s.inTx(ctx, func(q *queries.Queries) error {
		c, err := q.LockChargeByBooking(ctx, bookingID)
		if err != nil {
			return err
		}
		if rank(ChargeStatus(c.Status)) < rank(ChargeCanceled) {
			c, err = q.UpdateChargeState(ctx, queries.UpdateChargeStateParams{
				ID: c.ID, Status: string(ChargeCanceled), FailureReason: c.FailureReason,
				RefundedMinor: c.RefundedMinor, AutoRefundReason: c.AutoRefundReason,
			})
			if err != nil {
				return err
			}
		}
		out = chargeOf(c)
		return nil
	})
	if err != nil {
		return Charge{}, fmt.Errorf("cancel charge of booking %s: %w", bookingID, err)
	}
	return out, nil
}

// Refund returns amountMinor of a booking's succeeded charge to the student. A booking is
// refunded at most once by tutorhub: a second call returns the charge with the first refund.
func (s *Service) Refund(ctx context.Context, bookingID uuid.UUID, amountMinor int64, reason string) (Charge, error) {
	return s.refund(ctx, bookingID, amountMinor, reason, false)
}

// RefundOrphan refunds in full what is left of a succeeded charge whose booking no longer
// waits for it (its hold expired, it was cancelled), recording why.
func (s *Service) RefundOrphan(ctx context.Context, bookingID uuid.UUID, reason string) (Charge, error) {
	return s.refund(ctx, bookingID, 0, reason, true)
}

func (s *Service) refund(ctx context.Context, bookingID uuid.UUID, amountMinor int64, reason string, orphan bool) (Charge, error) {
	if len(reason) > 200 {
		return Charge{}, tutorhub.Invalid("reason", "max_len", "a refund reason is at most 200 bytes")
	}
	row, err := s.q.GetChargeByBooking(ctx, bookingID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Charge{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "booking %s has no charge", bookingID)
	}
	if err != nil {
		return Charge{}, fmt.Errorf("read charge of booking %s: %w", bookingID, err)
	}
	if orphan {
		amountMinor = row.AmountMinor - row.RefundedMinor
	}
	ref, err := s.q.GetRefundByCharge(ctx, row.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if st := ChargeStatus(row.Status); st != ChargeSucceeded {
			return Charge{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "the charge of booking %s is %s, not succeeded", bookingID, st)
		}
		if amountMinor <= 0 || amountMinor > row.AmountMinor-row.RefundedMinor {
			return Charge{}, tutorhub.Invalid("amount_minor", "range",
				fmt.Sprintf("a refund is from 1 to %d minor units", row.AmountMinor-row.RefundedMinor))
		}
		ref, err = s.q.CreateRefund(ctx, queries.CreateRefundParams{ChargeID: row.ID, AmountMinor: amountMinor, Reason: reason})
		if errors.Is(err, pgx.ErrNoRows) {
			ref, err = s.q.GetRefundByCharge(ctx, row.ID)
		}
		if err != nil {
			return Charge{}, fmt.Errorf("record refund of booking %s: %w", bookingID, err)
		}
	case err != nil:
		return Charge{}, fmt.Errorf("read refund of booking %s: %w", bookingID, err)
	}
	if ref.Status == "succeeded" {
		return chargeOf(row), nil
	}
	params := &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(row.ProviderID.String),
		Amount:        stripe.Int64(ref.AmountMinor),
		Metadata:      map[string]string{MetadataBookingID: bookingID.String(), MetadataChargeID: row.ID.String()},
	}
	params.SetIdempotencyKey(refundKey(bookingID))
	pr, err := s.stripe.V1Refunds.Create(ctx, params)
	if err != nil {
		return Charge{}, providerError("refund booking "+bookingID.String(), err)
	}
	var out Charge
	err = s.inTx(ctx, func(q *queries.Queries) error {
		c, err := q.LockChargeByBooking(ctx, bookingID)
		if err != nil {
			return err
		}
		if err := q.SetRefundProvider(ctx, queries.SetRefundProviderParams{
			ID: ref.ID, ProviderID: pgtype.Text{String: pr.ID, Valid: pr.ID != ""}, Status: refundStatus(pr.Status),
		}); err != nil {
			return err
		}
		if orphan && c.AutoRefundReason == "" {
			c.AutoRefundReason = reason
		}
		if pr.Status == stripe.RefundStatusSucceeded {
			// The provider's own cumulative amount (charge.refunded) may already include this
			// refund: the ledger takes the larger of the two, never their sum.
			c, err = applyRefunded(ctx, q, c, max(c.RefundedMinor, ref.AmountMinor))
		} else {
			c, err = q.UpdateChargeState(ctx, stateParams(c))
		}
		if err != nil {
			return err
		}
		out = chargeOf(c)
		return nil
	})
	if err != nil {
		return Charge{}, fmt.Errorf("record refund of booking %s: %w", bookingID, err)
	}
	return out, nil
}

func refundStatus(s stripe.RefundStatus) string {
	switch s {
	case stripe.RefundStatusSucceeded, stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		return string(s)
	}
	return "pending"
}

func stateParams(c queries.PaymentCharge) queries.UpdateChargeStateParams {
	return queries.UpdateChargeStateParams{
		ID: c.ID, Status: c.Status, FailureReason: c.FailureReason, RefundedMinor: c.RefundedMinor, AutoRefundReason: c.AutoRefundReason,
	}
}

// TutorBalance is what tutorhub owes a tutor in a currency: the credit balance of the tutor's
// payable account, summed from the ledger.
func (s *Service) TutorBalance(ctx context.Context, tutorID uuid.UUID, currency string) (int64, error) {
	b, err := s.q.AccountBalance(ctx, queries.AccountBalanceParams{Account: TutorPayable(tutorID), Currency: currency})
	if err != nil {
		return 0, fmt.Errorf("balance of tutor %s: %w", tutorID, err)
	}
	return -b, nil
}

func (s *Service) inTx(ctx context.Context, fn func(q *queries.Queries) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(s.q.WithTx(tx)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// providerError classifies a provider failure: a request the provider refuses for good
// (invalid, declined) is EPRECONDITION; anything else (network, 5xx, rate limit) EUNAVAILABLE,
// which a caller retries.
func providerError(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict {
		return tutorhub.Errorf(tutorhub.EPRECONDITION, "%s: the provider refused: %s", what, se.Msg)
	}
	return tutorhub.Errorf(tutorhub.EUNAVAILABLE, "%s: the provider failed: %v", what, err)
}

func pgtypeTime(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: true} }
