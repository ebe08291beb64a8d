-- Tutor profiles. A user has at most one live (not deleted) profile. Deletion is soft
-- (deleted_at), and every query that serves readers filters deleted rows, so a deleted
-- profile disappears everywhere at once.
--
-- search_facets is derived from subjects, languages and lesson_modes by tutor_search_facets:
-- one token per filter value ListTutors accepts, so any combination of those filters is one
-- array containment served by one GIN index.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION tutor_search_facets(subjects jsonb, languages text[], lesson_modes text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(
    SELECT DISTINCT f FROM (
        SELECT 's:' || (s ->> 'subject_id') AS f
        FROM jsonb_array_elements(subjects) AS s
        UNION ALL
        SELECT 'sl:' || (s ->> 'subject_id') || ':' || lvl
        FROM jsonb_array_elements(subjects) AS s, jsonb_array_elements_text(s -> 'levels') AS lvl
        UNION ALL
        SELECT 'l:' || lower(l) FROM unnest(languages) AS l
        UNION ALL
        SELECT 'l:' || lower(split_part(l, '-', 1)) FROM unnest(languages) AS l
        UNION ALL
        SELECT 'm:' || m FROM unnest(lesson_modes) AS m
    ) AS facets
    ORDER BY f
);
-- +goose StatementEnd

CREATE TABLE tutors (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id),
    headline          text NOT NULL DEFAULT '' CHECK (length(headline) <= 120),
    bio               text NOT NULL DEFAULT '' CHECK (length(bio) <= 5000),
    -- [{"subject_id": uuid, "levels": ["primary", ...]}], checked against subjects by the API.
    subjects          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(subjects) = 'array'),
    hourly_rate_minor bigint NOT NULL DEFAULT 0 CHECK (hourly_rate_minor BETWEEN 0 AND 100000000),
    currency          text NOT NULL DEFAULT '' CHECK (currency ~ '^([A-Z]{3})?$'),
    languages         text[] NOT NULL DEFAULT '{}',
    lesson_modes      text[] NOT NULL DEFAULT '{}' CHECK (lesson_modes <@ ARRAY['online', 'in_person']),
    time_zone         text NOT NULL DEFAULT '' CHECK (length(time_zone) <= 64),
    -- [{"day": 1-7, "start": minute, "end": minute}]
    availability      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(availability) = 'array'),
    search_facets     text[] NOT NULL GENERATED ALWAYS AS (tutor_search_facets(subjects, languages, lesson_modes)) STORED,
    published         boolean NOT NULL DEFAULT false,
    version           bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    CHECK (NOT (published AND deleted_at IS NOT NULL))
);

CREATE UNIQUE INDEX tutors_user_id_live_key ON tutors (user_id) WHERE deleted_at IS NULL;

-- ListTutors orders by (hourly_rate_minor, id). The public list reads only published rows;
-- admins may include unpublished ones.
CREATE INDEX tutors_listed_rate_idx ON tutors (hourly_rate_minor, id)
    WHERE published AND deleted_at IS NULL;
CREATE INDEX tutors_listed_currency_rate_idx ON tutors (currency, hourly_rate_minor, id)
    WHERE published AND deleted_at IS NULL;
CREATE INDEX tutors_live_rate_idx ON tutors (hourly_rate_minor, id)
    WHERE deleted_at IS NULL;
-- Subject, level, language and lesson mode filters, in any combination.
CREATE INDEX tutors_search_facets_idx ON tutors USING gin (search_facets)
    WHERE deleted_at IS NULL;
