-- Bookings notify both sides (requested, accepted, declined, confirmed, reminders, cancelled,
-- expired, completed) under a category of their own, which users may turn off per channel.

-- +goose Up
ALTER TABLE notifications DROP CONSTRAINT notifications_category_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_category_check
    CHECK (category IN ('security', 'tutors', 'uploads', 'bookings'));
ALTER TABLE notification_preferences DROP CONSTRAINT notification_preferences_category_check;
ALTER TABLE notification_preferences ADD CONSTRAINT notification_preferences_category_check
    CHECK (category IN ('security', 'tutors', 'uploads', 'bookings'));
