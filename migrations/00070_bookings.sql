-- Bookings: a student's lesson with a tutor over one time range. Double booking is impossible
-- in the database itself: an exclusion constraint (btree_gist) refuses two live bookings of
-- one tutor whose ranges overlap. Live means the slot is held: requested (awaiting the
-- tutor's decision), awaiting_payment, or confirmed. Declined, cancelled, expired and
-- completed bookings release it.
--
-- starts_at and ends_at are UTC instants; time_zone is the tutor's IANA zone at request time,
-- kept so every party reads the lesson in the zone it was booked in. price_minor and
-- currency are the tutor's rate at request time, in minor units.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE bookings (
    id               uuid PRIMARY KEY,
    tutor_id         uuid NOT NULL REFERENCES tutors (id),
    tutor_user_id    uuid NOT NULL REFERENCES users (id),
    student_id       uuid NOT NULL REFERENCES users (id),
    state            text NOT NULL DEFAULT 'requested'
                     CHECK (state IN ('requested', 'awaiting_payment', 'confirmed', 'completed', 'declined', 'cancelled', 'expired')),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL CHECK (ends_at > starts_at),
    during           tstzrange NOT NULL GENERATED ALWAYS AS (tstzrange(starts_at, ends_at, '[)')) STORED,
    time_zone        text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    price_minor      bigint NOT NULL CHECK (price_minor >= 0),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    charge_status    text NOT NULL DEFAULT ''
                     CHECK (charge_status IN ('', 'pending', 'succeeded', 'failed', 'canceled', 'refunded')),
    -- What the cancellation policy refunds (set when a paid booking is cancelled).
    refund_minor     bigint NOT NULL DEFAULT 0 CHECK (refund_minor >= 0 AND refund_minor <= price_minor),
    cancelled_by     text NOT NULL DEFAULT '' CHECK (cancelled_by IN ('', 'student', 'tutor', 'admin')),
    reason           text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    -- The tutor must decide before decide_by; an accepted booking must be paid before hold_until.
    decide_by        timestamptz NOT NULL,
    hold_until       timestamptz,
    -- Reminders already recorded (e.g. {24h,1h}), so a retried activity sends each once.
    reminders_sent   text[] NOT NULL DEFAULT '{}',
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (student_id <> tutor_user_id),
    CONSTRAINT bookings_tutor_no_overlap EXCLUDE USING gist (tutor_id WITH =, during WITH &&)
        WHERE (state IN ('requested', 'awaiting_payment', 'confirmed'))
);

-- ListMyBookings: the student's or the tutor's bookings, latest lesson first.
CREATE INDEX bookings_student_idx ON bookings (student_id, starts_at DESC, id DESC);
CREATE INDEX bookings_tutor_user_idx ON bookings (tutor_user_id, starts_at DESC, id DESC);
