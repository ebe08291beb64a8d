package payments

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/queries"
)

// Ledger accounts. Debits are positive, credits negative; every journal sums to zero per
// currency (the database refuses any other at commit).
const (
	// AccountProviderClearing is money held at the provider for tutorhub.
	AccountProviderClearing = "provider_clearing"
	// AccountStudentCharges carries the gross amount a student paid into its allocation.
	AccountStudentCharges = "student_charges"
	// AccountPlatformFees is the platform's revenue (a credit balance).
	AccountPlatformFees = "platform_fees"
	// AccountRefunds carries an amount returned to a student out of its allocation.
	AccountRefunds = "refunds"
)

// TutorPayable is the account of what tutorhub owes a tutor (a credit balance).
func TutorPayable(tutorID uuid.UUID) string { return "tutor_payable:" + tutorID.String() }

// Entry is one line of a journal.
type Entry struct {
	Account     string
	AmountMinor int64
}

// chargeEntries is the journal of a succeeded charge of amount with fee: the money arrives at
// the provider, is charged to the student, and is split between the platform and the tutor.
func chargeEntries(tutor uuid.UUID, amount, fee int64) []Entry {
	return []Entry{
		{AccountProviderClearing, amount},
		{AccountStudentCharges, -amount},
		{AccountStudentCharges, amount},
		{AccountPlatformFees, -fee},
		{TutorPayable(tutor), -(amount - fee)},
	}
}

// refundEntries is the journal of a refund that takes a charge's refunded total from before
// to after: the money leaves the provider, and the tutor's and the platform's parts shrink in
// proportion (computed on the totals, so several partial refunds add up to the whole fee).
func refundEntries(tutor uuid.UUID, amount, fee, before, after int64) []Entry {
	r := after - before
	feePart := fee*after/amount - fee*before/amount
	return []Entry{
		{AccountRefunds, r},
		{AccountProviderClearing, -r},
		{AccountRefunds, -r},
		{AccountPlatformFees, feePart},
		{TutorPayable(tutor), r - feePart},
	}
}

// postJournal records a journal once per sourceKey; false when it was recorded before.
func postJournal(ctx context.Context, q *queries.Queries, sourceKey, kind string, chargeID uuid.UUID, currency string, entries []Entry) (bool, error) {
	id, err := q.InsertLedgerJournal(ctx, queries.InsertLedgerJournalParams{
		SourceKey: sourceKey, Kind: kind, ChargeID: uuid.NullUUID{UUID: chargeID, Valid: true},
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("journal %s: %w", sourceKey, err)
	}
	for _, e := range entries {
		if e.AmountMinor == 0 {
			continue
		}
		if err := q.InsertLedgerEntry(ctx, queries.InsertLedgerEntryParams{
			JournalID: id, Account: e.Account, Currency: currency, AmountMinor: e.AmountMinor,
		}); err != nil {
			return false, fmt.Errorf("journal %s entry %s: %w", sourceKey, e.Account, err)
		}
	}
	return true, nil
}

// applySucceeded moves a charge to succeeded and posts its journal, in q's transaction.
func applySucceeded(ctx context.Context, q *queries.Queries, c queries.PaymentCharge) (queries.PaymentCharge, error) {
	c.Status = string(ChargeSucceeded)
	c.FailureReason = ""
	if _, err := postJournal(ctx, q, "charge:"+c.ID.String(), "charge_succeeded", c.ID, c.Currency,
		chargeEntries(c.TutorID, c.AmountMinor, c.FeeMinor)); err != nil {
		return c, err
	}
	return q.UpdateChargeState(ctx, stateParams(c))
}

// applyRefunded raises a succeeded charge's refunded total to total (never lowers it) and
// posts the journal of the difference, keyed by the new total so the same total posts once.
func applyRefunded(ctx context.Context, q *queries.Queries, c queries.PaymentCharge, total int64) (queries.PaymentCharge, error) {
	total = min(total, c.AmountMinor)
	st := ChargeStatus(c.Status)
	if total <= c.RefundedMinor || (st != ChargeSucceeded && st != ChargeRefunded) {
		return q.UpdateChargeState(ctx, stateParams(c))
	}
	if _, err := postJournal(ctx, q, "refund:"+c.ID.String()+":"+strconv.FormatInt(total, 10), "refund", c.ID, c.Currency,
		refundEntries(c.TutorID, c.AmountMinor, c.FeeMinor, c.RefundedMinor, total)); err != nil {
		return c, err
	}
	c.RefundedMinor = total
	if total == c.AmountMinor {
		c.Status = string(ChargeRefunded)
	}
	return q.UpdateChargeState(ctx, stateParams(c))
}
