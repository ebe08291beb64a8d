-- A booking's payment: one charge per booking (the booking id is the idempotency key of
-- every call to the provider), mirroring the provider's PaymentIntent.
--
-- status only moves forward: pending -> failed -> succeeded | canceled, pending -> succeeded |
-- canceled, succeeded -> refunded (in full). A webhook applies its state only when it ranks
-- above the current one, so late, repeated or reordered events are harmless. refunded_minor
-- only grows (the provider's cumulative amount_refunded).

-- +goose Up
CREATE TABLE payment_charges (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id          uuid NOT NULL UNIQUE,
    student_id          uuid NOT NULL,
    tutor_id            uuid NOT NULL,
    -- The provider's PaymentIntent id, once it answered.
    provider_id         text UNIQUE CHECK (length(provider_id) BETWEEN 1 AND 255),
    -- Lets the student's browser confirm the payment; never logged.
    client_secret       text NOT NULL DEFAULT '' CHECK (length(client_secret) <= 500),
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    -- The platform's fee, fixed at creation from the configured rate.
    fee_minor           bigint NOT NULL CHECK (fee_minor >= 0 AND fee_minor <= amount_minor),
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled', 'refunded')),
    refunded_minor      bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    failure_reason      text NOT NULL DEFAULT '' CHECK (length(failure_reason) <= 500),
    -- Why tutorhub refunded it on its own (the booking was gone when the payment arrived).
    auto_refund_reason  text NOT NULL DEFAULT '' CHECK (length(auto_refund_reason) <= 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_charges_refunded_in_full CHECK (status <> 'refunded' OR refunded_minor = amount_minor)
);

-- Reconcile reads the charges of a window.
CREATE INDEX payment_charges_created_idx ON payment_charges (created_at);
CREATE INDEX payment_charges_tutor_idx ON payment_charges (tutor_id, created_at);
