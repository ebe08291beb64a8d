-- Notifications: the in-app inbox, the record of every delivery (one row per event,
-- recipient and channel, which makes each delivery idempotent) and each user's preferences
-- per category and channel. Categories and channels are closed sets (package notifications).

-- +goose Up
CREATE TABLE notifications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id   uuid NOT NULL,
    category   text NOT NULL CHECK (category IN ('security', 'tutors', 'uploads')),
    kind       text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text NOT NULL CHECK (length(body) <= 2000),
    link       text NOT NULL DEFAULT '' CHECK (length(link) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz,
    -- An event gives each recipient at most one inbox item, however often it is delivered.
    UNIQUE (event_id, user_id)
);

-- A user's inbox newest first (the keyset of ListNotifications), and the unread count.
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;

-- Every replica's watchers learn of a new inbox item through NOTIFY notifications, with the
-- recipient and the item's id as payload.
-- +goose StatementBegin
CREATE FUNCTION notifications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notifications', NEW.user_id::text || ' ' || NEW.id::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER notifications_notify AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION notifications_notify();

-- One row per (event, recipient, channel): 'sending' is recorded and committed before the
-- SMTP conversation, 'sent' after it, so a retry of a sent delivery sends nothing.
CREATE TABLE notification_deliveries (
    event_id   uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel    text NOT NULL CHECK (channel IN ('inbox', 'email')),
    status     text NOT NULL CHECK (status IN ('sending', 'sent', 'skipped')),
    attempts   integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    message_id text NOT NULL DEFAULT '' CHECK (length(message_id) <= 256),
    last_error text NOT NULL DEFAULT '' CHECK (length(last_error) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (event_id, user_id, channel)
);

-- Only choices that differ from the defaults are stored; a missing row is the default (on).
CREATE TABLE notification_preferences (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category   text NOT NULL CHECK (category IN ('security', 'tutors', 'uploads')),
    channel    text NOT NULL CHECK (channel IN ('inbox', 'email')),
    enabled    boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, category, channel),
    -- Security notices cannot be turned off.
    CHECK (category <> 'security' OR enabled)
);
