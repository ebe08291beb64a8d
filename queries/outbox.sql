-- name: InsertOutboxEvent :exec
-- Records an event for background work; call it in the transaction of the change it
-- describes. @traceparent is the W3C traceparent of the writing request's span, or NULL.
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, traceparent)
VALUES (@aggregate_type, @aggregate_id, @event_type, CAST(sqlc.arg(payload)::text AS jsonb), sqlc.narg(traceparent)::text);

-- name: ClaimOutboxEvents :many
-- Locks up to @batch_size events that are due for dispatch, oldest first, skipping rows
-- another relay holds: several relays never claim the same event at once. Call it in a
-- transaction that settles each claimed row (dispatched, deferred or parked) before commit.
SELECT seq, event_id, aggregate_type, aggregate_id, event_type, CAST(payload AS text) AS payload, created_at, attempts,
       coalesce(traceparent, '') AS traceparent
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

-- name: ListParkedOutboxEvents :many
-- One page of parked events, newest first (by seq, below @before_seq when set), optionally
-- of one event type. The payload is returned only when it is at most @max_payload_bytes
-- long; its size always.
SELECT seq, event_id, aggregate_type, aggregate_id, event_type, CAST(park_reason AS text) AS park_reason,
       coalesce(last_error, '') AS last_error, attempts, created_at, CAST(parked_at AS timestamptz) AS parked_at,
       CAST(octet_length(payload::text) AS bigint) AS payload_size,
       CAST(CASE WHEN octet_length(payload::text) <= sqlc.arg(max_payload_bytes)::int THEN payload::text ELSE '' END AS text) AS payload
FROM outbox
WHERE parked_at IS NOT NULL
  AND (sqlc.narg(event_type)::text IS NULL OR event_type = sqlc.narg(event_type)::text)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT sqlc.arg(page_limit);

-- name: RetryParkedOutboxEvent :one
-- Puts a parked event back in the relay's queue, due now. No row when no event has this id
-- or it is not parked. Follow it with NotifyOutbox in the same transaction.
UPDATE outbox SET parked_at = NULL, park_reason = NULL, next_attempt_at = NULL
WHERE event_id = @event_id AND parked_at IS NOT NULL
RETURNING seq, event_id, aggregate_type, aggregate_id, event_type, coalesce(last_error, '') AS last_error, attempts, created_at,
          CAST(octet_length(payload::text) AS bigint) AS payload_size,
          CAST(CASE WHEN octet_length(payload::text) <= sqlc.arg(max_payload_bytes)::int THEN payload::text ELSE '' END AS text) AS payload;

-- name: NotifyOutbox :exec
-- Wakes the relays (at the commit), as an insert's trigger does.
SELECT pg_notify('outbox', '');
