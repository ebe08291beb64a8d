-- name: CreateUpload :one
INSERT INTO uploads (id, owner_id, purpose, content_type, size_bytes, object_key)
VALUES (sqlc.arg(id), sqlc.arg(owner_id), sqlc.arg(purpose), sqlc.arg(content_type), sqlc.arg(size_bytes), sqlc.arg(object_key))
RETURNING *;

-- name: GetUpload :one
SELECT * FROM uploads WHERE id = sqlc.arg(id);

-- name: LockUpload :one
SELECT * FROM uploads WHERE id = sqlc.arg(id) FOR UPDATE;

-- name: CompleteUpload :one
-- pending -> scanning; a repeated completion leaves the row as it is.
UPDATE uploads SET status = 'scanning', completed_at = now(), updated_at = now()
WHERE id = sqlc.arg(id) AND status = 'pending'
RETURNING *;

-- name: FinishUploadScan :one
-- The scan's verdict: only from scanning, so a verdict is written once and never undone.
UPDATE uploads
SET status = sqlc.arg(status), reason = sqlc.arg(reason), sniffed_type = sqlc.arg(sniffed_type),
    review_status = sqlc.arg(review_status), updated_at = now()
WHERE id = sqlc.arg(id) AND status = 'scanning'
RETURNING *;

-- name: ExpireUpload :one
-- pending -> expired, for an upload never completed.
UPDATE uploads SET status = 'expired', reason = sqlc.arg(reason), updated_at = now()
WHERE id = sqlc.arg(id) AND status = 'pending'
RETURNING *;

-- name: ListAbandonedUploads :many
-- The oldest pending uploads created before cutoff (uploads_pending_idx).
SELECT * FROM uploads
WHERE status = 'pending' AND created_at < sqlc.arg(cutoff)
ORDER BY created_at
LIMIT sqlc.arg(page_limit)::int;

-- name: DeleteUpload :exec
DELETE FROM uploads WHERE id = sqlc.arg(id);

-- name: SetUserAvatar :exec
UPDATE users SET avatar_upload_id = sqlc.arg(upload_id), updated_at = now() WHERE id = sqlc.arg(user_id);

-- name: GetUserAvatar :one
SELECT avatar_upload_id FROM users WHERE id = sqlc.arg(user_id);
