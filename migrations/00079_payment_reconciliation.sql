-- What each Reconcile run found: the window it compared, how many records it checked, and
-- every drift (a charge whose provider record, ledger journal or balance disagrees), for the
-- admin listing.

-- +goose Up
CREATE TABLE payment_reconciliation_reports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL CHECK (window_end > window_start),
    checked       integer NOT NULL CHECK (checked >= 0),
    drift_count   integer NOT NULL CHECK (drift_count >= 0),
    -- [{"kind": ..., "charge_id": ..., "detail": ...}], at most a bounded number.
    drift         jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payment_reconciliation_reports_created_idx ON payment_reconciliation_reports (created_at DESC, id);
