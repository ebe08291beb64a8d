-- The double-entry ledger, in minor units per currency. A journal is one business event (a
-- charge succeeded, a refund went out), recorded once: source_key is unique. Its entries
-- (positive = debit, negative = credit) sum to zero per currency; a deferred constraint
-- trigger checks that at commit, so no transaction can leave an unbalanced journal, whatever
-- code wrote it. Entries are never updated or deleted. Every balance (a tutor's payable, the
-- platform's fees) is a sum over entries, never a stored counter.
--
-- Accounts: provider_clearing (money held at the provider), student_charges (gross amounts
-- charged to students, passed on in the same journal), platform_fees, tutor_payable:<tutor id>,
-- refunds (amounts returned to students, taken back in the same journal).

-- +goose Up
CREATE TABLE ledger_journals (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_key  text NOT NULL UNIQUE CHECK (length(source_key) BETWEEN 1 AND 300),
    kind        text NOT NULL CHECK (kind IN ('charge_succeeded', 'refund')),
    charge_id   uuid REFERENCES payment_charges (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_journals_charge_idx ON ledger_journals (charge_id);

CREATE TABLE ledger_entries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal_id   uuid NOT NULL REFERENCES ledger_journals (id),
    account      text NOT NULL CHECK (account ~ '^(provider_clearing|student_charges|platform_fees|refunds|tutor_payable:[0-9a-f-]{36})$'),
    currency     text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Balances are sums by account and currency.
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account, currency) INCLUDE (amount_minor);
CREATE INDEX ledger_entries_journal_idx ON ledger_entries (journal_id);

-- +goose StatementBegin
CREATE FUNCTION ledger_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT currency, sum(amount_minor) AS total INTO bad
    FROM ledger_entries
    WHERE journal_id = NEW.journal_id
    GROUP BY currency
    HAVING sum(amount_minor) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger journal % does not balance in %: entries sum to %', NEW.journal_id, bad.currency, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only' USING ERRCODE = 'check_violation';
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER ledger_journal_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced();

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
