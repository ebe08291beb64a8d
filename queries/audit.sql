-- name: InsertAuditEvent :exec
INSERT INTO audit_events (action, actor_id, subject_id, ip, user_agent, request_id, details)
VALUES (sqlc.arg(action), sqlc.narg(actor_id), sqlc.narg(subject_id), sqlc.arg(ip),
        sqlc.arg(user_agent), sqlc.arg(request_id), sqlc.arg(details)::text::jsonb);

-- name: ListAuditEvents :many
-- One page of the audit log newest first, before the keyset (before_time, before_id) when
-- given, with optional filters. Served by audit_events_time_idx or the index of the filter.
SELECT id, occurred_at, action, actor_id, subject_id, ip, user_agent, request_id, details
FROM audit_events
WHERE (sqlc.narg(actor_id)::uuid IS NULL OR actor_id = sqlc.narg(actor_id)::uuid)
  AND (sqlc.narg(subject_id)::uuid IS NULL OR subject_id = sqlc.narg(subject_id)::uuid)
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(start_time)::timestamptz IS NULL OR occurred_at >= sqlc.narg(start_time)::timestamptz)
  AND (sqlc.narg(end_time)::timestamptz IS NULL OR occurred_at < sqlc.narg(end_time)::timestamptz)
  AND (sqlc.narg(before_time)::timestamptz IS NULL
       OR (occurred_at, id) < (sqlc.narg(before_time)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY occurred_at DESC, id DESC
LIMIT sqlc.arg(page_limit)::int;
