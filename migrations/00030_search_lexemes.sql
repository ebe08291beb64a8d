-- Fast free text search (package search, PostgreSQL engine). Matching the query against all
-- the text by trigram word similarity (00020's `<%` on words) matched half the documents of
-- a catalogue with common words and recomputed similarity over every one of them: a
-- sequential scan of the whole index. Now every query is a tsquery served by the GIN index on
-- tsv: its words as prefixes, and, only when that finds too few documents, also the words of
-- the index close to each query word (typos). Those words come from search_lexemes, the
-- lexicon of every lexeme ever indexed (a few thousand short rows), searched by trigram
-- similarity through its own GIN index: the typo lookup never reads documents. Lexemes are
-- only added (a stale one matches nothing), in lexeme order within one statement, so
-- concurrent writers never deadlock on it.

-- +goose Up
CREATE TABLE search_lexemes (
    lexeme text PRIMARY KEY
);

CREATE INDEX search_lexemes_trgm_idx ON search_lexemes USING gin (lexeme gin_trgm_ops);

INSERT INTO search_lexemes (lexeme)
SELECT DISTINCT l
FROM search_documents d, unnest(tsvector_to_array(d.tsv)) AS l
ORDER BY l
ON CONFLICT DO NOTHING;

-- search_typo_query is search_prefix_query widened for typos: each word of t matches as a
-- prefix or as any of the (at most 8) lexicon words most similar to it (trigram similarity at
-- least 0.3, the word at least 4 characters long); every word must match.
-- +goose StatementBegin
CREATE FUNCTION search_typo_query(t text) RETURNS tsquery
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CAST(coalesce((
    SELECT string_agg('(' || quote_literal(w) || ':*' || coalesce((
               SELECT string_agg(' | ' || quote_literal(x.lexeme), '')
               FROM (
                   SELECT l.lexeme
                   FROM search_lexemes l
                   WHERE length(w) >= 4 AND l.lexeme % w AND l.lexeme ~ '^[[:alnum:]]+$' AND l.lexeme NOT LIKE w || '%'
                   ORDER BY similarity(l.lexeme, w) DESC, l.lexeme
                   LIMIT 8
               ) x
           ), '') || ')', ' & ')
    FROM regexp_split_to_table(search_normalize(t), '[^[:alnum:]]+') AS w
    WHERE w <> ''
), '') AS tsquery);
-- +goose StatementEnd

-- The text conditions now read tsv only; the trigram index on all the text has no use.
DROP INDEX search_documents_words_idx;
