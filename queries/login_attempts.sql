-- name: EnsureLoginAttempts :exec
INSERT INTO login_attempts (account_key)
VALUES ($1)
ON CONFLICT (account_key) DO NOTHING;

-- name: LockLoginAttempts :one
-- Reads an account's counters and holds its row lock until the transaction ends, so
-- concurrent attempts on one account are decided one after another.
SELECT failures, window_started_at, lock_count, locked_until
FROM login_attempts
WHERE account_key = $1
FOR UPDATE;

-- name: SaveLoginAttempts :exec
UPDATE login_attempts
SET failures = sqlc.arg(failures),
    window_started_at = sqlc.arg(window_started_at),
    lock_count = sqlc.arg(lock_count),
    locked_until = sqlc.narg(locked_until),
    updated_at = now()
WHERE account_key = sqlc.arg(account_key);

-- name: DeleteLoginAttempts :exec
DELETE FROM login_attempts
WHERE account_key = $1;
