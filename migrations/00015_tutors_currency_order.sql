-- Money sorts within one currency: ListTutors orders by (currency, hourly_rate_minor, id), so
-- the keyset indexes lead with the currency. The published list keeps
-- tutors_listed_currency_rate_idx (00010); admins' lists get the same order over every live
-- row. The rate-first indexes served a cross-currency order and go.

-- +goose Up
CREATE INDEX tutors_live_currency_rate_idx ON tutors (currency, hourly_rate_minor, id)
    WHERE deleted_at IS NULL;
DROP INDEX tutors_listed_rate_idx;
DROP INDEX tutors_live_rate_idx;
