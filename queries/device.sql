-- name: RecordUserDevice :one
-- Records that the user signed in from the device with this fingerprint and says whether the
-- device is new (first seen now) and whether the user had any other device before it.
WITH known AS (
    SELECT count(*) AS n FROM user_devices d
    WHERE d.user_id = sqlc.arg(user_id)::uuid AND d.fingerprint <> sqlc.arg(fingerprint)::text
), upsert AS (
    INSERT INTO user_devices (user_id, fingerprint) VALUES (sqlc.arg(user_id)::uuid, sqlc.arg(fingerprint)::text)
    ON CONFLICT ON CONSTRAINT user_devices_pkey DO UPDATE SET last_seen = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT CAST(upsert.inserted AS boolean) AS is_new, CAST(known.n > 0 AS boolean) AS had_others
FROM upsert, known;
