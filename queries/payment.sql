-- name: CreateCharge :one
-- A booking's charge, unless it has one: no row when it exists (read it with LockChargeByBooking).
INSERT INTO payment_charges (booking_id, student_id, tutor_id, amount_minor, currency, fee_minor)
VALUES (@booking_id, @student_id, @tutor_id, @amount_minor, @currency, @fee_minor)
ON CONFLICT (booking_id) DO NOTHING
RETURNING *;

-- name: GetChargeByBooking :one
SELECT * FROM payment_charges WHERE booking_id = @booking_id;

-- name: LockChargeByBooking :one
SELECT * FROM payment_charges WHERE booking_id = @booking_id FOR UPDATE;

-- name: LockChargeByProviderID :one
SELECT * FROM payment_charges WHERE provider_id = @provider_id FOR UPDATE;

-- name: SetChargeProvider :one
-- Records the provider's PaymentIntent the first time it answers; the same id again is a no-op.
UPDATE payment_charges
SET provider_id = @provider_id, client_secret = @client_secret, updated_at = now()
WHERE id = @id AND (provider_id IS NULL OR provider_id = @provider_id)
RETURNING *;

-- name: UpdateChargeState :one
-- Writes a charge's new state; the caller decides (under LockCharge*) that it moves forward.
UPDATE payment_charges
SET status = @status, failure_reason = @failure_reason, refunded_minor = @refunded_minor,
    auto_refund_reason = @auto_refund_reason, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: InsertPaymentEvent :one
-- Stores a provider event once: no row when its id was stored before.
INSERT INTO payment_events (provider_event_id, event_type, livemode, provider_created_at, payload, status, note)
VALUES (@provider_event_id, @event_type, @livemode, @provider_created_at, CAST(sqlc.arg(payload)::text AS jsonb), @status, @note)
ON CONFLICT (provider, provider_event_id) DO NOTHING
RETURNING id;

-- name: LockPaymentEvent :one
SELECT id, provider_event_id, event_type, provider_created_at, CAST(payload AS text) AS payload, status, note
FROM payment_events WHERE provider = 'stripe' AND provider_event_id = @provider_event_id
FOR UPDATE;

-- name: SettlePaymentEvent :exec
-- Records what applying an event did (applied or ignored); settles it once.
UPDATE payment_events SET status = @status, note = @note, applied_at = now()
WHERE id = @id AND status = 'received';

-- name: ListParkedPaymentEvents :many
-- One page of parked events, newest first, after the keyset cursor (@before_at, @before_id) when set.
SELECT id, provider_event_id, event_type, livemode, provider_created_at, note, received_at,
       CAST(octet_length(payload::text) AS bigint) AS payload_size
FROM payment_events
WHERE status = 'parked'
  AND (sqlc.narg(before_at)::timestamptz IS NULL OR (received_at, id) < (sqlc.narg(before_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY received_at DESC, id DESC
LIMIT sqlc.arg(page_limit);

-- name: CreateRefund :one
-- A charge's refund, unless it has one: no row when it exists (read it with GetRefundByCharge).
INSERT INTO payment_refunds (charge_id, amount_minor, reason)
VALUES (@charge_id, @amount_minor, @reason)
ON CONFLICT (charge_id) DO NOTHING
RETURNING *;

-- name: GetRefundByCharge :one
SELECT * FROM payment_refunds WHERE charge_id = @charge_id;

-- name: SetRefundProvider :exec
UPDATE payment_refunds SET provider_id = @provider_id, status = @status, updated_at = now()
WHERE id = @id;

-- name: InsertLedgerJournal :one
-- A journal, once per source key: no row when the business event was recorded before.
INSERT INTO ledger_journals (source_key, kind, charge_id)
VALUES (@source_key, @kind, @charge_id)
ON CONFLICT (source_key) DO NOTHING
RETURNING id;

-- name: InsertLedgerEntry :exec
INSERT INTO ledger_entries (journal_id, account, currency, amount_minor)
VALUES (@journal_id, @account, @currency, @amount_minor);

-- name: AccountBalance :one
-- An account's balance in one currency: the sum of its entries (debits positive).
SELECT CAST(coalesce(sum(amount_minor), 0) AS bigint) AS balance
FROM ledger_entries WHERE account = @account AND currency = @currency;

-- name: LedgerTotals :many
-- Every account's balance per currency, and every currency's total (zero when balanced).
SELECT account, currency, CAST(sum(amount_minor) AS bigint) AS balance
FROM ledger_entries
GROUP BY account, currency
ORDER BY currency, account;

-- name: ListChargesCreatedBetween :many
-- The charges of a Reconcile window with the provider_clearing total of their journals.
SELECT c.id, c.booking_id, c.tutor_id, c.provider_id, c.amount_minor, c.currency, c.fee_minor, c.status, c.refunded_minor,
       CAST(coalesce((SELECT sum(e.amount_minor) FROM ledger_journals j JOIN ledger_entries e ON e.journal_id = j.id
                      WHERE j.charge_id = c.id AND e.account = 'provider_clearing'), 0) AS bigint) AS clearing_minor
FROM payment_charges c
WHERE c.created_at >= @from_time AND c.created_at < @to_time
ORDER BY c.created_at, c.id
LIMIT sqlc.arg(page_limit);

-- name: InsertReconciliationReport :one
INSERT INTO payment_reconciliation_reports (window_start, window_end, checked, drift_count, drift)
VALUES (@window_start, @window_end, @checked, @drift_count, CAST(sqlc.arg(drift)::text AS jsonb))
RETURNING id, created_at;

-- name: ListReconciliationReports :many
-- One page of reports, newest first, after the keyset cursor (@before_at, @before_id) when set.
SELECT id, window_start, window_end, checked, drift_count, CAST(drift AS text) AS drift, created_at
FROM payment_reconciliation_reports
WHERE (sqlc.narg(before_at)::timestamptz IS NULL OR (created_at, id) < (sqlc.narg(before_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_limit);
