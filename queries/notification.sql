-- name: GetNotificationRecipient :one
-- What a delivery needs to know of its recipient.
SELECT id, email, display_name, timezone, locale FROM users WHERE id = @id;

-- name: ListNotificationPreferences :many
-- A user's stored choices (those that differ from the defaults).
SELECT category, channel, enabled FROM notification_preferences WHERE user_id = @user_id
ORDER BY category, channel;

-- name: UpsertNotificationPreference :exec
INSERT INTO notification_preferences (user_id, category, channel, enabled)
VALUES (@user_id, @category, @channel, @enabled)
ON CONFLICT (user_id, category, channel) DO UPDATE SET enabled = excluded.enabled, updated_at = now();

-- name: InsertNotification :one
-- Puts an event's item in the recipient's inbox once: a repeated delivery returns no row.
INSERT INTO notifications (user_id, event_id, category, kind, title, body, link)
VALUES (@user_id, @event_id, @category, @kind, @title, @body, @link)
ON CONFLICT (event_id, user_id) DO NOTHING
RETURNING id, created_at;

-- name: GetNotificationOfEvent :one
SELECT id, created_at FROM notifications WHERE event_id = @event_id AND user_id = @user_id;

-- name: GetNotification :one
SELECT id, user_id, event_id, category, kind, title, body, link, created_at, read_at
FROM notifications WHERE id = @id;

-- name: ListNotifications :many
-- One page of a user's inbox, newest first, after the keyset (before_time, before_id) when
-- given; only unread items when unread_only. Served by notifications_user_idx.
SELECT id, user_id, event_id, category, kind, title, body, link, created_at, read_at
FROM notifications
WHERE user_id = @user_id
  AND (NOT sqlc.arg(unread_only)::boolean OR read_at IS NULL)
  AND (sqlc.narg(before_time)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_time)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_limit)::int;

-- name: MarkNotificationRead :one
-- Marks one of the user's notifications read (kept as first read); no row when the user has
-- no notification of this id.
UPDATE notifications SET read_at = coalesce(read_at, now())
WHERE id = @id AND user_id = @user_id
RETURNING id, user_id, event_id, category, kind, title, body, link, created_at, read_at;

-- name: MarkAllNotificationsRead :execrows
UPDATE notifications SET read_at = now() WHERE user_id = @user_id AND read_at IS NULL;

-- name: CountUnreadNotifications :one
SELECT count(*) FROM notifications WHERE user_id = @user_id AND read_at IS NULL;


-- name: GetDeliveryForUpdate :one
SELECT event_id, user_id, channel, status, attempts, message_id, sent_at
FROM notification_deliveries
WHERE event_id = @event_id AND user_id = @user_id AND channel = @channel
FOR UPDATE;

-- name: InsertDelivery :exec
INSERT INTO notification_deliveries (event_id, user_id, channel, status, message_id)
VALUES (@event_id, @user_id, @channel, 'sending', @message_id)
ON CONFLICT (event_id, user_id, channel) DO NOTHING;

-- name: MarkDeliveryAttempt :exec
UPDATE notification_deliveries SET attempts = attempts + 1
WHERE event_id = @event_id AND user_id = @user_id AND channel = @channel AND status = 'sending';

-- name: MarkDeliveryDone :exec
-- Records the outcome of a delivery: 'sent', or 'skipped' when preferences turned it off.
UPDATE notification_deliveries SET status = @status, sent_at = now(), last_error = ''
WHERE event_id = @event_id AND user_id = @user_id AND channel = @channel;

-- name: CountDeliveries :many
-- Deliveries of an event by channel and status (tests and operators).
SELECT channel, status, count(*) AS n, sum(attempts)::bigint AS attempts
FROM notification_deliveries WHERE event_id = @event_id
GROUP BY channel, status ORDER BY channel, status;

-- name: RecordDeliveryError :exec
UPDATE notification_deliveries SET last_error = @last_error
WHERE event_id = @event_id AND user_id = @user_id AND channel = @channel AND status = 'sending';
