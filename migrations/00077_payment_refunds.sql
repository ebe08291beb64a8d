-- Refunds tutorhub asked the provider for: one per booking (a cancellation's refund, or the
-- automatic full refund of a payment that arrived after its booking was gone), its
-- idempotency key derived from the booking id so a retried call refunds once. Refunds made
-- elsewhere (the provider's dashboard) reach payment_charges.refunded_minor through
-- charge.refunded without a row here.

-- +goose Up
CREATE TABLE payment_refunds (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    charge_id       uuid NOT NULL UNIQUE REFERENCES payment_charges (id),
    provider_id     text UNIQUE CHECK (length(provider_id) BETWEEN 1 AND 255),
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
