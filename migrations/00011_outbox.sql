-- The transactional outbox: a write that background work (search indexing, notifications)
-- must see inserts one row here in its own transaction, so the event exists if and only if
-- the change committed. A relay claims pending rows (FOR UPDATE SKIP LOCKED), woken by
-- NOTIFY outbox, and marks them processed.

-- +goose Up
CREATE TABLE outbox (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    aggregate_type text NOT NULL CHECK (length(aggregate_type) BETWEEN 1 AND 64),
    aggregate_id   uuid NOT NULL,
    event_type     text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    payload        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz
);

-- The relay's queue: pending events in insertion order.
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE processed_at IS NULL;
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_type, aggregate_id, seq);

-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
