-- name: GetBookableTutor :one
-- A published, live tutor with what a booking needs of it: owner, rate, zone, availability.
-- FOR SHARE keeps the rate and availability fixed until the booking's transaction ends.
SELECT id, user_id, hourly_rate_minor, currency, time_zone, CAST(availability AS text) AS availability
FROM tutors
WHERE id = @id AND deleted_at IS NULL AND published
FOR SHARE;

-- name: InsertBooking :one
-- Records a requested booking. The exclusion constraint bookings_tutor_no_overlap refuses it
-- (SQLSTATE 23P01) when a live booking of the tutor overlaps.
INSERT INTO bookings (id, tutor_id, tutor_user_id, student_id, starts_at, ends_at, time_zone, price_minor, currency, decide_by)
VALUES (@id, @tutor_id, @tutor_user_id, @student_id, @starts_at, @ends_at, @time_zone, @price_minor, @currency, @decide_by)
RETURNING *;

-- name: GetBooking :one
-- A booking with what its charge has refunded so far (0 without a charge).
SELECT sqlc.embed(b), coalesce(c.refunded_minor, 0)::bigint AS refunded_minor
FROM bookings b
LEFT JOIN payment_charges c ON c.booking_id = b.id
WHERE b.id = @id;

-- name: LockBooking :one
-- A booking, locked until the transaction ends: the read of a read-check-write. Its charge is
-- read, not locked (payments locks it on its own).
SELECT sqlc.embed(b), coalesce(c.refunded_minor, 0)::bigint AS refunded_minor
FROM bookings b
LEFT JOIN payment_charges c ON c.booking_id = b.id
WHERE b.id = @id
FOR UPDATE OF b;

-- name: UpdateBookingState :one
-- Writes a transition decided by the domain on the row LockBooking returned.
UPDATE bookings
SET state = @state, charge_status = @charge_status, refund_minor = @refund_minor,
    cancelled_by = @cancelled_by, reason = @reason, hold_until = sqlc.narg(hold_until),
    reminders_sent = @reminders_sent, version = version + 1, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ListBookingsOfStudent :many
-- One page of a student's bookings, latest lesson first, after the keyset (before_start,
-- before_id) when given, each with what its charge has refunded so far. Served by
-- bookings_student_idx, the charge by its unique booking_id.
SELECT sqlc.embed(b), coalesce(c.refunded_minor, 0)::bigint AS refunded_minor
FROM bookings b
LEFT JOIN payment_charges c ON c.booking_id = b.id
WHERE b.student_id = @user_id
  AND (sqlc.narg(before_start)::timestamptz IS NULL
       OR (b.starts_at, b.id) < (sqlc.narg(before_start)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY b.starts_at DESC, b.id DESC
LIMIT sqlc.arg(page_limit)::int;

-- name: ListBookingsOfTutor :many
-- One page of a tutor's bookings (by the tutor's user id), latest lesson first, each with what
-- its charge has refunded so far. Served by bookings_tutor_user_idx, the charge by its unique
-- booking_id.
SELECT sqlc.embed(b), coalesce(c.refunded_minor, 0)::bigint AS refunded_minor
FROM bookings b
LEFT JOIN payment_charges c ON c.booking_id = b.id
WHERE b.tutor_user_id = @user_id
  AND (sqlc.narg(before_start)::timestamptz IS NULL
       OR (b.starts_at, b.id) < (sqlc.narg(before_start)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY b.starts_at DESC, b.id DESC
LIMIT sqlc.arg(page_limit)::int;

-- name: InsertReview :one
-- Records the review of a booking; a second one of the same booking returns no row.
INSERT INTO reviews (booking_id, tutor_id, student_id, rating, body)
VALUES (@booking_id, @tutor_id, @student_id, @rating, @body)
ON CONFLICT (booking_id) DO NOTHING
RETURNING *;

-- name: ListTutorReviews :many
-- One page of a tutor's reviews, newest first, after the keyset (before_time, before_id).
-- Served by reviews_tutor_idx.
SELECT r.*, u.display_name AS student_name
FROM reviews r
JOIN users u ON u.id = r.student_id
WHERE r.tutor_id = @tutor_id
  AND (sqlc.narg(before_time)::timestamptz IS NULL
       OR (r.created_at, r.booking_id) < (sqlc.narg(before_time)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY r.created_at DESC, r.booking_id DESC
LIMIT sqlc.arg(page_limit)::int;

-- name: GetTutorRating :one
-- A tutor's review count and average rating (0 without reviews), from the view tutor_ratings.
SELECT coalesce(max(review_count), 0)::bigint AS review_count, coalesce(max(average_rating), 0)::float8 AS average_rating
FROM tutor_ratings WHERE tutor_id = @tutor_id;
