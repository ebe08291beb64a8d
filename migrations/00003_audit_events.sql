-- The audit log: one row per sensitive action, append-only. Rows are never updated or
-- deleted (a trigger refuses both, and TRUNCATE), so the log can be trusted as a record.
-- Never a password, token or code in any column.

-- +goose Up
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    actor_id    uuid,
    subject_id  uuid,
    ip          text NOT NULL DEFAULT '' CHECK (length(ip) <= 64),
    user_agent  text NOT NULL DEFAULT '' CHECK (length(user_agent) <= 512),
    request_id  text NOT NULL DEFAULT '' CHECK (length(request_id) <= 128),
    details     jsonb NOT NULL DEFAULT '{}'
);

-- Keyset pagination newest first, unfiltered and by each filter.
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor_time_idx ON audit_events (actor_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_subject_time_idx ON audit_events (subject_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_action_time_idx ON audit_events (action, occurred_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
