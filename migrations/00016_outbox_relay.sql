-- What the outbox relay records about each event: the workflow it started, its failed
-- attempts (retried with backoff, never blocking the events behind it) and, for an event it
-- can never dispatch (malformed payload, no route for its type), the reason it was parked.
-- Parked events stay in the table for an operator to inspect and retry.

-- +goose Up
ALTER TABLE outbox
    ADD COLUMN workflow_id     text CHECK (length(workflow_id) BETWEEN 1 AND 1000),
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error      text CHECK (length(last_error) <= 2000),
    ADD COLUMN parked_at       timestamptz,
    ADD COLUMN park_reason     text CHECK (length(park_reason) <= 2000),
    ADD CONSTRAINT outbox_parked_has_reason CHECK ((parked_at IS NULL) = (park_reason IS NULL));

-- The relay's queue: events neither dispatched nor parked, in insertion order. It replaces
-- outbox_pending_idx, which parked events would clutter.
CREATE INDEX outbox_ready_idx ON outbox (seq) WHERE processed_at IS NULL AND parked_at IS NULL;
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_parked_idx ON outbox (seq) WHERE parked_at IS NOT NULL;
