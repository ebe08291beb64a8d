-- Failed sign-in counters and account locks, keyed by a hash of the normalized email so
-- that unknown addresses are counted and locked exactly like known ones (the answers must
-- not tell them apart) without storing addresses that have no account.

-- +goose Up
CREATE TABLE login_attempts (
    account_key       bytea PRIMARY KEY CHECK (length(account_key) = 32),
    -- Attempts counted in the current window, including those still in flight.
    failures          integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL DEFAULT now(),
    -- Locks so far; each lock lasts twice as long as the previous one, up to the maximum.
    lock_count        integer NOT NULL DEFAULT 0 CHECK (lock_count >= 0),
    locked_until      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
