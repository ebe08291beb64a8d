-- name: InsertOutboxEvent :exec
-- Records an event for background work; call it in the transaction of the change it
-- describes.
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES (@aggregate_type, @aggregate_id, @event_type, CAST(sqlc.arg(payload)::text AS jsonb));

-- name: ClaimOutboxEvents :many
-- Locks up to @batch_size events that are due for dispatch, oldest first, skipping rows
-- another relay holds: several relays never claim the same event at once. Call it in a
-- transaction that settles each claimed row (dispatched, deferred or parked) before commit.
SELECT seq, event_id, aggregate_type, aggregate_id, event_type, CAST(payload AS text) AS payload, created_at, attempts
FROM outbox
WHERE processed_at IS NULL AND parked_at IS NULL
  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
ORDER BY seq
LIMIT sqlc.arg(batch_size)
FOR UPDATE SKIP LOCKED;

-- name: MarkOutboxDispatched :exec
-- Records that the event's workflow was started (now or by an earlier attempt).
UPDATE outbox SET processed_at = now(), workflow_id = CAST(sqlc.arg(workflow_id) AS text), last_error = NULL, next_attempt_at = NULL
WHERE seq = @seq;

-- name: DeferOutboxEvent :exec
-- Records a failed dispatch attempt; the event is due again after @delay_ms milliseconds.
UPDATE outbox
SET attempts = attempts + 1,
    next_attempt_at = now() + make_interval(secs => sqlc.arg(delay_ms)::bigint / 1000.0),
    last_error = CAST(sqlc.arg(last_error) AS text)
WHERE seq = @seq;

-- name: ParkOutboxEvent :exec
-- Takes an event the relay can never dispatch out of the queue, with the reason.
UPDATE outbox SET parked_at = now(), park_reason = CAST(sqlc.arg(reason) AS text) WHERE seq = @seq;

-- name: OutboxBacklog :one
-- The events waiting for dispatch (not parked), the creation time of the oldest (now when
-- there is none) and the parked events, for the relay's metrics.
SELECT count(*) AS pending, CAST(COALESCE(min(created_at), now()) AS timestamptz) AS oldest,
       (SELECT count(*) FROM outbox p WHERE p.parked_at IS NOT NULL) AS parked
FROM outbox
WHERE processed_at IS NULL AND parked_at IS NULL;
