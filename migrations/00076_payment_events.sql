-- Every webhook event the payment provider sent, stored raw exactly once (unique by the
-- provider's event id) in the transaction of its outbox row, before the endpoint answers.
-- PaymentWebhook applies it and records the outcome here. An event of a type tutorhub does not
-- handle is stored parked (never applied, no outbox row) for an admin to see.

-- +goose Up
CREATE TABLE payment_events (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider            text NOT NULL DEFAULT 'stripe' CHECK (provider IN ('stripe')),
    provider_event_id   text NOT NULL CHECK (length(provider_event_id) BETWEEN 1 AND 255),
    event_type          text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    livemode            boolean NOT NULL DEFAULT false,
    -- The event's creation time at the provider (its `created`).
    provider_created_at timestamptz NOT NULL,
    payload             jsonb NOT NULL,
    status              text NOT NULL DEFAULT 'received'
                        CHECK (status IN ('received', 'applied', 'ignored', 'parked')),
    -- What applying it did, or why it was parked or ignored.
    note                text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    received_at         timestamptz NOT NULL DEFAULT now(),
    applied_at          timestamptz,
    CONSTRAINT payment_events_provider_event_key UNIQUE (provider, provider_event_id)
);

-- The admin listing of parked events, newest first.
CREATE INDEX payment_events_parked_idx ON payment_events (received_at DESC, id) WHERE status = 'parked';
