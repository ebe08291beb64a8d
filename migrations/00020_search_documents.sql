-- The PostgreSQL search engine's index (package search): one document per tutor profile,
-- written by the indexer from the tutors table, never by API writes. A document carries the
-- profile version it was built from, and a write with an older or equal version changes
-- nothing, so events applied late or twice never overwrite a newer state. A deleted tutor
-- stays as a tombstone (deleted, at its version) so a late upsert cannot bring it back.
--
-- Text search: tsv is a weighted tsvector (A: display name and headline, B: subject names,
-- C: bio) over unaccented text with the 'simple' configuration (no stemming: profiles are
-- written in many languages); queries match every word as a prefix. Typos are caught by
-- trigram word similarity (pg_trgm) between the unaccented query and words (all the text).
-- Both are served by GIN indexes. facets holds one token per filter value, as tutors'
-- search_facets does, plus levels alone and the currency, for filters and facet counts.
-- unaccent and pg_trgm are trusted extensions of PostgreSQL's contrib package.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- +goose StatementBegin
CREATE FUNCTION search_document_facets(subjects jsonb, languages text[], lesson_modes text[], currency text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN tutor_search_facets(subjects, languages, lesson_modes) || ARRAY(
    SELECT DISTINCT 'lv:' || lvl
    FROM jsonb_array_elements(subjects) AS s, jsonb_array_elements_text(s -> 'levels') AS lvl
    ORDER BY 1
) || CASE WHEN currency = '' THEN ARRAY[]::text[] ELSE ARRAY['c:' || currency] END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION search_normalize(t text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN lower(unaccent(t));
-- +goose StatementEnd

-- search_prefix_query turns free text into a tsquery matching documents that hold every
-- word of it as a prefix: the text is unaccented, lowered and split on anything but letters
-- and digits, so no character of the text is ever read as tsquery syntax. Text without a
-- word gives an empty query, which matches nothing.
-- +goose StatementBegin
CREATE FUNCTION search_prefix_query(t text) RETURNS tsquery
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_tsquery('simple', coalesce((
    SELECT string_agg(w || ':*', ' & ')
    FROM regexp_split_to_table(search_normalize(t), '[^[:alnum:]]+') AS w
    WHERE w <> ''
), ''));
-- +goose StatementEnd

CREATE TABLE search_documents (
    id                uuid PRIMARY KEY,
    version           bigint NOT NULL CHECK (version > 0),
    deleted           boolean NOT NULL DEFAULT false,
    published         boolean NOT NULL DEFAULT false,
    display_name      text NOT NULL DEFAULT '',
    headline          text NOT NULL DEFAULT '',
    bio               text NOT NULL DEFAULT '',
    -- [{"subject_id": uuid, "name": text, "levels": [text]}]
    subjects          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(subjects) = 'array'),
    languages         text[] NOT NULL DEFAULT '{}',
    lesson_modes      text[] NOT NULL DEFAULT '{}',
    currency          text NOT NULL DEFAULT '',
    hourly_rate_minor bigint NOT NULL DEFAULT 0,
    facets            text[] NOT NULL GENERATED ALWAYS AS (search_document_facets(subjects, languages, lesson_modes, currency)) STORED,
    tsv               tsvector NOT NULL DEFAULT ''::tsvector,
    words             text NOT NULL DEFAULT '',
    indexed_at        timestamptz NOT NULL DEFAULT now()
);

-- Only visible documents are ever searched.
CREATE INDEX search_documents_tsv_idx ON search_documents USING gin (tsv)
    WHERE published AND NOT deleted;
CREATE INDEX search_documents_words_idx ON search_documents USING gin (words gin_trgm_ops)
    WHERE published AND NOT deleted;
CREATE INDEX search_documents_facets_idx ON search_documents USING gin (facets)
    WHERE published AND NOT deleted;
CREATE INDEX search_documents_price_idx ON search_documents (currency, hourly_rate_minor, id)
    WHERE published AND NOT deleted;
