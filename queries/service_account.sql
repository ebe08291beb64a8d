-- name: CreateServiceAccount :one
INSERT INTO service_accounts (name, description, owner_id, requests_per_minute)
VALUES (sqlc.arg(name), sqlc.arg(description), sqlc.arg(owner_id), sqlc.arg(requests_per_minute))
RETURNING id, name, description, owner_id, requests_per_minute, disabled_at, created_at;

-- name: GetServiceAccount :one
SELECT id, name, description, owner_id, requests_per_minute, disabled_at, created_at
FROM service_accounts
WHERE id = $1;

-- name: ListServiceAccounts :many
-- One page of service accounts newest first, after the keyset (before_time, before_id) when
-- given. Served by service_accounts_created_idx.
SELECT id, name, description, owner_id, requests_per_minute, disabled_at, created_at
FROM service_accounts
WHERE sqlc.narg(before_time)::timestamptz IS NULL
   OR (created_at, id) < (sqlc.narg(before_time)::timestamptz, sqlc.narg(before_id)::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_limit)::int;

-- name: DisableServiceAccount :one
-- Disables the account; an account already disabled keeps its first disabled_at.
UPDATE service_accounts
SET disabled_at = coalesce(disabled_at, now())
WHERE id = $1
RETURNING id, name, description, owner_id, requests_per_minute, disabled_at, created_at;

-- name: CreateServiceAccountKey :one
INSERT INTO service_account_keys (account_id, prefix, secret_hash, scopes, description, created_by, expires_at)
VALUES (sqlc.arg(account_id), sqlc.arg(prefix), sqlc.arg(secret_hash), sqlc.arg(scopes)::text[],
        sqlc.arg(description), sqlc.arg(created_by), sqlc.narg(expires_at))
RETURNING id, account_id, prefix, scopes, description, created_by, created_at, expires_at, revoked_at, last_used_at, last_used_ip;

-- name: ListServiceAccountKeys :many
-- One page of an account's keys newest first, after the keyset when given. Served by
-- service_account_keys_account_idx.
SELECT id, account_id, prefix, scopes, description, created_by, created_at, expires_at, revoked_at, last_used_at, last_used_ip
FROM service_account_keys
WHERE account_id = sqlc.arg(account_id)
  AND (sqlc.narg(before_time)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_time)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_limit)::int;

-- name: GetServiceAccountKey :one
SELECT id, account_id, prefix, scopes, description, created_by, created_at, expires_at, revoked_at, last_used_at, last_used_ip
FROM service_account_keys
WHERE id = sqlc.arg(id) AND account_id = sqlc.arg(account_id);

-- name: RevokeServiceAccountKey :one
-- Revokes one key of the account; no row when it is unknown or already revoked.
UPDATE service_account_keys
SET revoked_at = now()
WHERE id = sqlc.arg(id) AND account_id = sqlc.arg(account_id) AND revoked_at IS NULL
RETURNING id, account_id, prefix, scopes, description, created_by, created_at, expires_at, revoked_at, last_used_at, last_used_ip;

-- name: GetServiceAccountKeyByPrefix :one
-- What verifying a key needs: the key and its account's state.
SELECT k.id, k.account_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at,
       a.name AS account_name, a.requests_per_minute, a.disabled_at
FROM service_account_keys k
JOIN service_accounts a ON a.id = k.account_id
WHERE k.prefix = $1;

-- name: RecordServiceAccountKeyUse :exec
-- Records the last use of a batch of keys; an older use never overwrites a newer one.
UPDATE service_account_keys AS k
SET last_used_at = u.used_at, last_used_ip = u.ip
FROM (SELECT unnest(sqlc.arg(ids)::text[])::uuid AS id,
             unnest(sqlc.arg(used_at)::timestamptz[]) AS used_at,
             unnest(sqlc.arg(ips)::text[]) AS ip) AS u
WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.used_at);
