-- A tutor's rating is a query over reviews, never a stored counter: tutor_ratings is a plain
-- view (count and average per tutor), computed from reviews_tutor_idx on every read, so it
-- cannot drift from the reviews it summarises.

-- +goose Up
CREATE VIEW tutor_ratings AS
SELECT tutor_id, count(*)::bigint AS review_count, avg(rating)::float8 AS average_rating
FROM reviews
GROUP BY tutor_id;
