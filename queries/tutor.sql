-- name: CreateTutor :one
-- Creates a user's profile, unpublished, at version 1. tutors_user_id_live_key refuses a
-- second live profile for the same user.
INSERT INTO tutors (user_id, headline, bio, subjects, hourly_rate_minor, currency, languages,
                    lesson_modes, time_zone, availability)
VALUES (@user_id, @headline, @bio, CAST(sqlc.arg(subjects)::text AS jsonb), @hourly_rate_minor, @currency, @languages,
        @lesson_modes, @time_zone, CAST(sqlc.arg(availability)::text AS jsonb))
RETURNING id;

-- name: GetTutor :one
-- A live profile, published or not, with its owner's display name and avatar, and its rating
-- (review count and average, 0 without reviews) from the view tutor_ratings, so one cached
-- read carries all GetTutor shows.
SELECT sqlc.embed(t), u.display_name, u.avatar_upload_id,
       coalesce(r.review_count, 0)::bigint AS review_count,
       coalesce(r.average_rating, 0)::float8 AS average_rating
FROM tutors t
JOIN users u ON u.id = t.user_id
LEFT JOIN tutor_ratings r ON r.tutor_id = t.id
WHERE t.id = @id AND t.deleted_at IS NULL;

-- name: LockTutor :one
-- A live profile, locked until the transaction ends: the read of a read-check-write.
SELECT *
FROM tutors
WHERE id = @id AND deleted_at IS NULL
FOR UPDATE;

-- name: UpdateTutor :one
-- Writes the profile fields of a tutor read by LockTutor, only if it is still at @version,
-- and moves it to the next version.
UPDATE tutors
SET headline = @headline,
    bio = @bio,
    subjects = CAST(sqlc.arg(subjects)::text AS jsonb),
    hourly_rate_minor = @hourly_rate_minor,
    currency = @currency,
    languages = @languages,
    lesson_modes = @lesson_modes,
    time_zone = @time_zone,
    availability = CAST(sqlc.arg(availability)::text AS jsonb),
    version = version + 1,
    updated_at = now()
WHERE id = @id AND version = @version AND deleted_at IS NULL
RETURNING id;

-- name: PublishTutor :one
-- Makes a tutor read by LockTutor visible to everyone, only if it is still at @version, and
-- moves it to the next version.
UPDATE tutors
SET published = true, version = version + 1, updated_at = now()
WHERE id = @id AND version = @version AND deleted_at IS NULL
RETURNING id;

-- name: UnpublishTutor :one
-- Hides a tutor read by LockTutor from everyone but its owner and admins, only if it is still
-- at @version, and moves it to the next version.
UPDATE tutors
SET published = false, version = version + 1, updated_at = now()
WHERE id = @id AND version = @version AND deleted_at IS NULL
RETURNING id;

-- name: TouchTutorOfUser :one
-- Moves a user's live tutor profile to its next version because something it shows but does
-- not store (the owner's display name) changed; no row when the user has no live profile.
UPDATE tutors
SET version = version + 1, updated_at = now()
WHERE user_id = @user_id AND deleted_at IS NULL
RETURNING id, user_id, version, published;

-- name: DeleteTutor :execrows
-- Soft-deletes a live profile: from this commit on, no reader sees it.
UPDATE tutors
SET deleted_at = now(), published = false, version = version + 1, updated_at = now()
WHERE id = @id AND deleted_at IS NULL;

-- name: ListTutors :many
-- One page of live tutors in (currency, hourly_rate_minor, id) order after the keyset
-- (@after_currency, @after_rate, @after_id); the first page passes ('', -1, the nil UUID).
-- Money sorts within one currency: rates are ordered only among tutors of one currency, and
-- the API accepts a rate range only with a currency. Every filter has a neutral value (empty
-- facets, empty currency, the full rate range), so one statement serves every combination.
-- @facets holds at most one subject (or subject and level), one language and one lesson mode
-- token, as package tutors builds them. The page is read from tutor_facets (migration 00085):
-- the filter's subject and language are one key, and each (published, lesson modes) part the
-- filter admits is one range of tutor_facets_pkey in list order, read for at most a page.
-- part keeps the admitted parts (the planner, which sees the values, folds the filter); the
-- merge of their ranges is the page. So a page reads at most 8 ranges of a page each, however
-- rare the combination. The tutors are then read by primary key for the page only, where
-- search_facets is checked again: redundant with the keys, and free.
WITH page AS (
    SELECT f.currency, f.hourly_rate_minor, f.tutor_id
    FROM (
        SELECT v.published, v.lesson_modes
        FROM (SELECT true AS published, 0::smallint AS lesson_modes
              UNION ALL SELECT true, 1::smallint UNION ALL SELECT true, 2::smallint UNION ALL SELECT true, 3::smallint
              UNION ALL SELECT false, 0::smallint UNION ALL SELECT false, 1::smallint
              UNION ALL SELECT false, 2::smallint UNION ALL SELECT false, 3::smallint) AS v
        WHERE (v.published OR @include_unpublished::boolean)
          AND v.lesson_modes & tutor_list_lesson_mode_bits(@facets::text[]) = tutor_list_lesson_mode_bits(@facets::text[])
    ) AS part
    CROSS JOIN LATERAL (
        SELECT tf.currency, tf.hourly_rate_minor, tf.tutor_id
        FROM tutor_facets tf
        WHERE tf.facet = tutor_list_facet_key(@facets::text[])
          AND tf.published = part.published
          AND tf.lesson_modes = part.lesson_modes
          AND (@currency::text = '' OR tf.currency = @currency::text)
          AND tf.hourly_rate_minor BETWEEN @min_rate::bigint AND @max_rate::bigint
          AND (tf.currency, tf.hourly_rate_minor, tf.tutor_id) > (@after_currency::text, @after_rate::bigint, @after_id::uuid)
        ORDER BY tf.currency, tf.hourly_rate_minor, tf.tutor_id
        LIMIT @page_limit::int
    ) AS f
    ORDER BY f.currency, f.hourly_rate_minor, f.tutor_id
    LIMIT @page_limit::int
)
SELECT sqlc.embed(t), u.display_name, u.avatar_upload_id
FROM page p
JOIN tutors t ON t.id = p.tutor_id
JOIN users u ON u.id = t.user_id
WHERE t.deleted_at IS NULL
  AND (t.published OR @include_unpublished::boolean)
  AND t.search_facets @> @facets::text[]
ORDER BY p.currency, p.hourly_rate_minor, p.tutor_id;

-- name: KnownSubjectIDs :many
-- The ids among @ids that the subject catalogue holds.
SELECT id FROM subjects WHERE id = ANY(CAST(sqlc.arg(ids)::text[] AS uuid[]));

-- name: GrantTutorRole :exec
-- The owner of a live profile holds the tutor role.
UPDATE users
SET roles = array_append(roles, 'tutor'), updated_at = now()
WHERE id = @id AND NOT 'tutor' = ANY (roles);

-- name: RevokeTutorRole :exec
-- Without a live profile, a user is no longer a tutor.
UPDATE users
SET roles = array_remove(roles, 'tutor'), updated_at = now()
WHERE id = @id AND 'tutor' = ANY (roles) AND cardinality(roles) > 1;

-- name: LiveTutorIDOfUser :one
-- The id of a user's live (not deleted) tutor profile.
SELECT id FROM tutors WHERE user_id = $1 AND deleted_at IS NULL;
