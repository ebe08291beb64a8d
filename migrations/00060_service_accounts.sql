-- Service accounts: credentials for backend services, owned by an admin. A service account
-- holds API keys; each key has scopes (named permissions mapped to RPCs, see the
-- serviceaccounts package), an optional expiry, and can be revoked. A key's secret is never
-- stored: only its SHA-256, beside a short public prefix that names the key in lists and
-- finds its row.

-- +goose Up
CREATE TABLE service_accounts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    description         text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- The admin who created the account (a users row; no foreign key, as in audit_events,
    -- so an account outlives its creator's row).
    owner_id            uuid NOT NULL,
    -- The budget of each of its keys, in requests per minute (the key's rate-limit tier).
    requests_per_minute integer NOT NULL CHECK (requests_per_minute BETWEEN 1 AND 1000000),
    disabled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- ListServiceAccounts: keyset newest first.
CREATE INDEX service_accounts_created_idx ON service_accounts (created_at DESC, id DESC);

CREATE TABLE service_account_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id   uuid NOT NULL REFERENCES service_accounts (id),
    -- The public part of the key (thk_<prefix>_...), shown in lists and used to find the row.
    prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z2-7]{10}$'),
    -- SHA-256 of the whole key; the key's secret part holds 256 random bits, so a fast hash
    -- is enough (nothing to brute-force), and it lets every request be checked in process.
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 32),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    created_by   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    -- When and from where the key was last used: written in batches, at most every few
    -- seconds per replica, never once per request.
    last_used_at timestamptz,
    last_used_ip text NOT NULL DEFAULT '' CHECK (length(last_used_ip) <= 64)
);

-- ListKeys: one account's keys, keyset newest first.
CREATE INDEX service_account_keys_account_idx ON service_account_keys (account_id, created_at DESC, id DESC);
