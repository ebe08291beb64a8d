-- The devices each user has signed in from, so a sign-in from a device never seen before can
-- be announced to the user (a security notice). A device is a fingerprint: the SHA-256 of the
-- user agent's family (Firefox, Chrome, curl, ...) and the client's network (IPv4 /24, IPv6
-- /48), never the raw address or user agent (accounts.DeviceOf).

-- +goose Up
CREATE TABLE user_devices (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint text NOT NULL CHECK (length(fingerprint) = 64),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, fingerprint)
);
