-- ListTutors' filters, materialised so that every combination walks only rows it returns.
--
-- Before this, a first page filtered by a subject and a rare language walked thousands of
-- rows through the rate-ordered index (the planner assumes the facets independent) or read
-- the whole GIN intersection and sorted it. tutor_facets holds, for every live tutor, one row
-- per filter combination the tutor matches, keyed so that each part of a page is one index
-- range in list order:
--
--   facet         tutor_facet_key(subject token, language token): every pair of one subject
--                 facet ('s:<id>' or 'sl:<id>:<level>', or none: '') and one language facet
--                 ('l:<tag>', or none: ''). (S+1)(L+1) rows per tutor, 22 on average for the
--                 development data; ('', '') is every live tutor, the unfiltered list.
--   published     the public list reads true; admins' lists read both.
--   lesson_modes  the tutor's modes as bits (1 online, 2 in person): a mode filter reads the
--                 two values holding its bit instead of multiplying the rows by the modes.
--   currency, hourly_rate_minor, tutor_id: ListTutors' keyset order.
--
-- A page reads at most 8 ranges (published x 4 mode values, fewer with filters), each at most
-- a page long, and merges them: its work is bounded by 8 times the page size whatever the
-- filters and however rare their combination. The key is an md5 of the two tokens, so a key
-- is 16 bytes however long the tokens, and distinct combinations never share one in practice
-- (ListTutors still checks search_facets on the tutor rows it returns).
--
-- Triggers on tutors keep the table exactly in step, in the writing transaction: a row's
-- facets go when it is deleted (soft or hard) and are rewritten when a field they are made of
-- changes (subjects, languages, lesson modes, published, currency, rate). An update that
-- changes none of those (headline, bio, version bumps) does not call the trigger. There is no
-- foreign key: the trigger is what removes a tutor's rows, and a key would cost a lookup per
-- facet row on every write.
--
-- The existing tutors are filled in before the primary key is built (one sort instead of
-- random inserts); creating the triggers locks tutors against writes until the migration
-- commits, so none is missed. The GIN and rate indexes ListTutors used before serve no query
-- now and go.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION tutor_facet_key(subject text, language text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN md5(subject || ' ' || language)::uuid;
-- +goose StatementEnd

-- tutor_facet_keys: the keys of every (subject or none, language or none) pair of a tutor's
-- search_facets.
-- +goose StatementBegin
CREATE FUNCTION tutor_facet_keys(search_facets text[]) RETURNS uuid[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN ARRAY(
    SELECT tutor_facet_key(s.f, l.f)
    FROM (SELECT '' AS f UNION ALL
          SELECT f FROM unnest(search_facets) AS f WHERE f LIKE 's:%' OR f LIKE 'sl:%') AS s,
         (SELECT '' AS f UNION ALL
          SELECT f FROM unnest(search_facets) AS f WHERE f LIKE 'l:%') AS l
);
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tutor_lesson_mode_bits(lesson_modes text[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN (CASE WHEN 'online' = ANY (lesson_modes) THEN 1 ELSE 0 END
      | CASE WHEN 'in_person' = ANY (lesson_modes) THEN 2 ELSE 0 END)::smallint;
-- +goose StatementEnd

-- tutor_list_facet_key: the key a ListTutors filter (its facets: at most one subject, one
-- language and one lesson mode token, as package tutors builds them) reads.
-- +goose StatementBegin
CREATE FUNCTION tutor_list_facet_key(facets text[]) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN tutor_facet_key(
    coalesce((SELECT min(f) FROM unnest(facets) AS f WHERE f LIKE 's:%' OR f LIKE 'sl:%'), ''),
    coalesce((SELECT min(f) FROM unnest(facets) AS f WHERE f LIKE 'l:%'), ''));
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tutor_list_lesson_mode_bits(facets text[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN tutor_lesson_mode_bits(ARRAY(SELECT substr(f, 3) FROM unnest(facets) AS f WHERE f LIKE 'm:%'));
-- +goose StatementEnd

CREATE TABLE tutor_facets (
    facet             uuid NOT NULL,
    published         boolean NOT NULL,
    lesson_modes      smallint NOT NULL,
    currency          text NOT NULL,
    hourly_rate_minor bigint NOT NULL,
    tutor_id          uuid NOT NULL
);

-- New tutors' rows are written set-based, once per statement and in key order: a batch of
-- seeded tutors costs one sort instead of a function call per tutor.
-- +goose StatementBegin
CREATE FUNCTION tutor_facets_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tutor_facets (facet, published, lesson_modes, currency, hourly_rate_minor, tutor_id)
    SELECT k, n.published, tutor_lesson_mode_bits(n.lesson_modes), n.currency, n.hourly_rate_minor, n.id
    FROM inserted_tutors AS n, unnest(tutor_facet_keys(n.search_facets)) AS k
    WHERE n.deleted_at IS NULL
    ORDER BY 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- An updated or deleted tutor's rows go by their primary key, computed from the old row;
-- an updated live tutor's new rows follow. When only the facets changed (the usual profile
-- edit: a language or subject added or removed), only the keys that differ are written.
-- +goose StatementBegin
CREATE FUNCTION tutor_facets_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_keys uuid[];
    new_keys uuid[];
BEGIN
    IF OLD.deleted_at IS NULL THEN
        old_keys := tutor_facet_keys(OLD.search_facets);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS NULL THEN
        new_keys := tutor_facet_keys(NEW.search_facets);
        IF old_keys IS NOT NULL
           AND (OLD.id, OLD.published, OLD.lesson_modes, OLD.currency, OLD.hourly_rate_minor)
               IS NOT DISTINCT FROM (NEW.id, NEW.published, NEW.lesson_modes, NEW.currency, NEW.hourly_rate_minor) THEN
            old_keys := ARRAY(SELECT unnest(old_keys) EXCEPT SELECT unnest(new_keys));
            new_keys := ARRAY(SELECT unnest(new_keys) EXCEPT SELECT unnest(tutor_facet_keys(OLD.search_facets)));
        END IF;
    END IF;
    IF cardinality(old_keys) > 0 THEN
        DELETE FROM tutor_facets
        WHERE facet = ANY (old_keys)
          AND published = OLD.published
          AND lesson_modes = tutor_lesson_mode_bits(OLD.lesson_modes)
          AND currency = OLD.currency
          AND hourly_rate_minor = OLD.hourly_rate_minor
          AND tutor_id = OLD.id;
    END IF;
    IF cardinality(new_keys) > 0 THEN
        INSERT INTO tutor_facets (facet, published, lesson_modes, currency, hourly_rate_minor, tutor_id)
        SELECT k, NEW.published, tutor_lesson_mode_bits(NEW.lesson_modes), NEW.currency,
               NEW.hourly_rate_minor, NEW.id
        FROM unnest(new_keys) AS k;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tutor_facets_insert AFTER INSERT ON tutors
    REFERENCING NEW TABLE AS inserted_tutors
    FOR EACH STATEMENT EXECUTE FUNCTION tutor_facets_insert();
CREATE TRIGGER tutor_facets_update AFTER UPDATE ON tutors
    FOR EACH ROW WHEN (
        OLD.id IS DISTINCT FROM NEW.id
        OR OLD.search_facets IS DISTINCT FROM NEW.search_facets
        OR OLD.lesson_modes IS DISTINCT FROM NEW.lesson_modes
        OR OLD.published IS DISTINCT FROM NEW.published
        OR OLD.currency IS DISTINCT FROM NEW.currency
        OR OLD.hourly_rate_minor IS DISTINCT FROM NEW.hourly_rate_minor
        OR (OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.deleted_at IS NULL))
    EXECUTE FUNCTION tutor_facets_sync();
CREATE TRIGGER tutor_facets_delete AFTER DELETE ON tutors
    FOR EACH ROW WHEN (OLD.deleted_at IS NULL) EXECUTE FUNCTION tutor_facets_sync();
-- +goose StatementBegin
CREATE FUNCTION tutor_facets_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE tutor_facets;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER tutor_facets_truncate AFTER TRUNCATE ON tutors
    FOR EACH STATEMENT EXECUTE FUNCTION tutor_facets_truncate();

INSERT INTO tutor_facets (facet, published, lesson_modes, currency, hourly_rate_minor, tutor_id)
SELECT k, t.published, tutor_lesson_mode_bits(t.lesson_modes), t.currency, t.hourly_rate_minor, t.id
FROM tutors t, unnest(tutor_facet_keys(t.search_facets)) AS k
WHERE t.deleted_at IS NULL;
ALTER TABLE tutor_facets
    ADD PRIMARY KEY (facet, published, lesson_modes, currency, hourly_rate_minor, tutor_id);

DROP INDEX tutors_listed_currency_rate_idx;
DROP INDEX tutors_live_currency_rate_idx;
DROP INDEX tutors_search_facets_idx;
