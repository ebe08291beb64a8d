-- Files users send to storage through presigned URLs, and what the virus scan found. The
-- bytes live in object storage (the quarantine bucket until the scan passes, then the clean
-- bucket, under object_key); this row is the record the API and the scan share.
--
-- status moves pending -> scanning -> clean | infected | rejected, or pending -> expired
-- when the client never completes; scan writes only move forward (scanning never returns to
-- pending, a verdict is final), so a repeated or late activity cannot undo a verdict.

-- +goose Up
CREATE TABLE uploads (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose       text NOT NULL CHECK (purpose IN ('avatar', 'credential_document')),
    content_type  text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 255),
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'scanning', 'clean', 'infected', 'rejected', 'expired')),
    -- Why it was rejected (or the signature that matched); empty otherwise.
    reason        text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    -- The type told from the file's bytes, once the scan looked.
    sniffed_type  text NOT NULL DEFAULT '' CHECK (length(sniffed_type) <= 255),
    object_key    text NOT NULL UNIQUE,
    -- Credential documents wait for an admin's review once clean: '' | 'pending' | ...
    review_status text NOT NULL DEFAULT '' CHECK (review_status IN ('', 'pending', 'approved', 'rejected')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

CREATE INDEX uploads_owner_idx ON uploads (owner_id, created_at DESC);
-- The cleanup of abandoned uploads reads the oldest pending ones.
CREATE INDEX uploads_pending_idx ON uploads (created_at) WHERE status = 'pending';

-- The user's avatar: a clean avatar upload, re-encoded into the clean bucket.
ALTER TABLE users ADD COLUMN avatar_upload_id uuid REFERENCES uploads (id) ON DELETE SET NULL;

