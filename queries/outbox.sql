-- name: InsertOutboxEvent :exec
-- Records an event for background work; call it in the transaction of the change it
-- describes.
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES (@aggregate_type, @aggregate_id, @event_type, CAST(sqlc.arg(payload)::text AS jsonb));
