-- tutorhub's own data about users: roles and profile. The id is the Kratos identity id;
-- Kratos owns credentials, sessions, recovery and verification.

-- +goose Up
CREATE TABLE users (
    id           uuid PRIMARY KEY,
    email        text NOT NULL CHECK (length(email) <= 254),
    display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    bio          text NOT NULL DEFAULT '' CHECK (length(bio) <= 2000),
    timezone     text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    locale       text NOT NULL DEFAULT 'en' CHECK (length(locale) BETWEEN 1 AND 35),
    -- A set: no duplicates, only known roles, never empty.
    roles        text[] NOT NULL DEFAULT '{student}'
                 CHECK (cardinality(roles) >= 1 AND roles <@ ARRAY['student', 'tutor', 'admin']::text[]),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
