-- The trace of the request behind each outbox event: its W3C traceparent, recorded in the
-- write's transaction, so that the relay's dispatch, and through Temporal's headers the
-- workflow and its activities, continue the request's trace. NULL when the write ran outside
-- a span.

-- +goose Up
ALTER TABLE outbox
    ADD COLUMN traceparent text CHECK (length(traceparent) BETWEEN 1 AND 256);
