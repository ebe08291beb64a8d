-- name: EnsureUser :exec
-- Creates the user's row on first sight (registration, or the first authenticated request of
-- an identity created elsewhere); an existing row is left as it is.
INSERT INTO users (id, email, display_name)
VALUES (sqlc.arg(id), sqlc.arg(email), sqlc.arg(display_name))
ON CONFLICT (id) DO NOTHING;

-- name: GetUser :one
SELECT id, email, display_name, bio, timezone, locale, roles, created_at, updated_at, avatar_upload_id
FROM users
WHERE id = $1;

-- name: GetUserRoles :one
SELECT roles
FROM users
WHERE id = $1;

-- name: GetUserForUpdate :one
SELECT id, email, display_name, bio, timezone, locale, roles, created_at, updated_at, avatar_upload_id
FROM users
WHERE id = $1
FOR UPDATE;

-- name: UpdateUserProfile :one
UPDATE users
SET display_name = sqlc.arg(display_name),
    bio = sqlc.arg(bio),
    timezone = sqlc.arg(timezone),
    locale = sqlc.arg(locale),
    updated_at = now()
WHERE id = sqlc.arg(id)
RETURNING id, email, display_name, bio, timezone, locale, roles, created_at, updated_at, avatar_upload_id;

-- name: GrantUserRole :one
-- Adds role to the user's set (creating the row if needed) and returns the new set, sorted.
INSERT INTO users (id, email, roles)
VALUES (sqlc.arg(id), sqlc.arg(email), ARRAY(SELECT DISTINCT r FROM unnest(ARRAY['student', sqlc.arg(role)::text]) AS r ORDER BY r))
ON CONFLICT (id) DO UPDATE
SET roles = ARRAY(SELECT DISTINCT r FROM unnest(array_append(users.roles, sqlc.arg(role)::text)) AS r ORDER BY r),
    updated_at = now()
RETURNING roles;
