-- Reviews: a student rates a completed booking once (1-5) with a short plain text. The
-- booking id is the primary key, so a second review of one booking cannot exist.

-- +goose Up
CREATE TABLE reviews (
    booking_id  uuid PRIMARY KEY REFERENCES bookings (id),
    tutor_id    uuid NOT NULL REFERENCES tutors (id),
    student_id  uuid NOT NULL REFERENCES users (id),
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body        text NOT NULL DEFAULT '' CHECK (length(body) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- ListTutorReviews: a tutor's reviews, newest first; also serves the rating aggregate.
CREATE INDEX reviews_tutor_idx ON reviews (tutor_id, created_at DESC, booking_id DESC);
