-- name: UpsertSearchDocument :execrows
-- Writes a tutor's search document (or its tombstone, deleted) unless the stored one is at
-- the same or a newer version: no row is affected then. tsv and words are derived here, so
-- the text search sees exactly the stored text.
INSERT INTO search_documents (id, version, deleted, published, display_name, headline, bio, subjects,
                              languages, lesson_modes, currency, hourly_rate_minor, tsv, words, indexed_at)
VALUES (@id, @version, @deleted, @published, @display_name, @headline, @bio, CAST(sqlc.arg(subjects)::text AS jsonb),
        @languages, @lesson_modes, @currency, @hourly_rate_minor,
        setweight(to_tsvector('simple', search_normalize(@display_name || ' ' || @headline)), 'A') ||
        setweight(to_tsvector('simple', search_normalize(@subject_names::text)), 'B') ||
        setweight(to_tsvector('simple', search_normalize(@bio)), 'C'),
        search_normalize(concat_ws(' ', @display_name, @headline, @subject_names::text, @bio)),
        now())
ON CONFLICT (id) DO UPDATE
SET version = EXCLUDED.version,
    deleted = EXCLUDED.deleted,
    published = EXCLUDED.published,
    display_name = EXCLUDED.display_name,
    headline = EXCLUDED.headline,
    bio = EXCLUDED.bio,
    subjects = EXCLUDED.subjects,
    languages = EXCLUDED.languages,
    lesson_modes = EXCLUDED.lesson_modes,
    currency = EXCLUDED.currency,
    hourly_rate_minor = EXCLUDED.hourly_rate_minor,
    tsv = EXCLUDED.tsv,
    words = EXCLUDED.words,
    indexed_at = EXCLUDED.indexed_at
WHERE search_documents.version < EXCLUDED.version;

-- name: AddSearchLexemes :exec
-- Adds the lexemes of documents @ids to the lexicon typo matching reads (search_lexemes), in
-- lexeme order, so concurrent writers take their locks in one order and never deadlock.
INSERT INTO search_lexemes (lexeme)
SELECT DISTINCT l
FROM search_documents d, unnest(tsvector_to_array(d.tsv)) AS l
WHERE d.id = ANY (CAST(@ids::text[] AS uuid[]))
ORDER BY l
ON CONFLICT DO NOTHING;

-- name: SearchMatchQuery :one
-- The tsquery (as text) that finds the documents matching @query: every word as a prefix
-- (search_prefix_query) when that matches at least @enough visible documents, else every
-- word as a prefix or a close lexicon word (search_typo_query): typos are a fallback, looked
-- up only when the words as typed find too few documents. Counting stops at @enough.
SELECT CAST(CASE
    WHEN (SELECT count(*) FROM (
              SELECT 1 FROM search_documents d
              -- the function call, not e.q: its cost makes the planner read the GIN index
              -- rather than every document until @enough match.
              WHERE d.published AND NOT d.deleted AND d.tsv @@ search_prefix_query(@query::text)
              LIMIT @enough::int) x) >= @enough::int THEN e.q
    ELSE search_typo_query(@query::text)
END AS text)::text
FROM (SELECT search_prefix_query(@query::text) AS q OFFSET 0) e;

-- name: GetSearchDocumentVersion :one
-- The version of a tutor's stored document (or tombstone).
SELECT version, deleted FROM search_documents WHERE id = @id;

-- name: SearchDocumentsByRelevance :many
-- One page of visible documents matching @match (a tsquery from SearchMatchQuery) and every
-- filter, best first: score is ts_rank over the weighted tsvector, lifted by the tutor's
-- rating (docs/bookings.md), rounded so that a page
-- token carries it exactly. Only the first @candidates matches the GIN indexes yield are
-- ranked, so a query matching much of the index costs a bounded amount of work. The keyset
-- continues after (@after_score, @after_id); the first page passes (infinity, the nil UUID).
-- Every filter has a neutral value (empty facets, empty currency, the full rate range), as
-- in ListTutors.
WITH m AS (SELECT CAST(@match::text AS tsquery) AS q OFFSET 0),
candidates AS MATERIALIZED (
    SELECT d.id
    FROM search_documents d, m
    WHERE d.published AND NOT d.deleted
      AND d.tsv @@ m.q
      AND (cardinality(@facets::text[]) = 0 OR d.facets @> @facets::text[])
      AND (@currency::text = '' OR d.currency = @currency::text)
      AND d.hourly_rate_minor BETWEEN @min_rate::bigint AND @max_rate::bigint
    LIMIT @candidates::int
)
SELECT d.id, d.version, d.display_name, d.headline, d.bio, CAST(d.subjects AS text)::text AS subjects,
       d.languages, d.lesson_modes, d.currency, d.hourly_rate_minor, s.score::float8 AS score
FROM candidates c
JOIN search_documents d ON d.id = c.id
CROSS JOIN m
CROSS JOIN LATERAL (
    -- Students' ratings lift a match by up to a quarter: 5 % per star of the average,
    -- scaled by the review count up to 20 reviews (tutor_ratings, read per candidate).
    SELECT round((ts_rank('{0.1, 0.2, 0.4, 1.0}', d.tsv, m.q) * (1 + coalesce((
        SELECT 0.05 * r.average_rating * least(r.review_count, 20) / 20.0 FROM tutor_ratings r WHERE r.tutor_id = d.id
    ), 0)))::numeric, 6)::float8 AS score
) s
WHERE s.score < @after_score::float8 OR (s.score = @after_score::float8 AND d.id > @after_id::uuid)
ORDER BY s.score DESC, d.id
LIMIT @page_limit::int;

-- name: SearchDocumentsByPrice :many
-- One page of visible documents matching @match and every filter (as
-- SearchDocumentsByRelevance) in (currency, hourly_rate_minor, id) order: money sorts within
-- one currency. The keyset continues after (@after_currency, @after_rate, @after_id); the
-- first page passes ('', -1, the nil UUID).
SELECT d.id, d.version, d.display_name, d.headline, d.bio, CAST(d.subjects AS text)::text AS subjects,
       d.languages, d.lesson_modes, d.currency, d.hourly_rate_minor, 0::float8 AS score
FROM search_documents d, (SELECT CAST(@match::text AS tsquery) AS q OFFSET 0) m
WHERE d.published AND NOT d.deleted
  AND d.tsv @@ m.q
  AND (cardinality(@facets::text[]) = 0 OR d.facets @> @facets::text[])
  AND (@currency::text = '' OR d.currency = @currency::text)
  AND d.hourly_rate_minor BETWEEN @min_rate::bigint AND @max_rate::bigint
  AND (d.currency, d.hourly_rate_minor, d.id) > (@after_currency::text, @after_rate::bigint, @after_id::uuid)
ORDER BY d.currency, d.hourly_rate_minor, d.id
LIMIT @page_limit::int;

-- name: SearchFacetCounts :many
-- How many visible documents matching @match and every filter hold each facet value whose
-- kind (the token's prefix before the first colon: s, lv, l, m, c) is in @kinds, counted
-- over the first @candidates matches (as SearchDocumentsByRelevance ranks them): exact when
-- fewer documents match.
WITH candidates AS MATERIALIZED (
    SELECT d.facets
    FROM search_documents d, (SELECT CAST(@match::text AS tsquery) AS q OFFSET 0) m
    WHERE d.published AND NOT d.deleted
      AND d.tsv @@ m.q
      AND (cardinality(@facets::text[]) = 0 OR d.facets @> @facets::text[])
      AND (@currency::text = '' OR d.currency = @currency::text)
      AND d.hourly_rate_minor BETWEEN @min_rate::bigint AND @max_rate::bigint
    LIMIT @candidates::int
)
SELECT f::text AS value, count(*)::bigint AS documents
FROM candidates c, unnest(c.facets) AS f
WHERE split_part(f, ':', 1) = ANY (@kinds::text[])
GROUP BY f
ORDER BY count(*) DESC, f;
