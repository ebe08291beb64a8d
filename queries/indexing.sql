-- name: GetTutorForIndex :one
-- A profile as the search indexer needs it, deleted or not: its fields, its version and
-- whether it is deleted, with its owner's display name.
SELECT sqlc.embed(t), u.display_name
FROM tutors t
JOIN users u ON u.id = t.user_id
WHERE t.id = @id;

-- name: LockTutorIndexing :exec
-- Serialises the search indexing of one tutor across processes until the transaction ends:
-- a transaction-level advisory lock keyed by the tutor id (the key space 'search-index:'
-- keeps it apart from other advisory locks). Released on commit, rollback or a lost
-- connection.
SELECT pg_advisory_xact_lock(hashtextextended('search-index:' || CAST(sqlc.arg(id)::uuid AS text), 0));

-- name: SubjectNames :many
-- The catalogue names of the subjects among @ids.
SELECT id, name FROM subjects WHERE id = ANY(CAST(sqlc.arg(ids)::text[] AS uuid[]));

-- name: ListTutorIDsForIndex :many
-- One page of the ids of published live tutors after @after_id, in id order (the primary
-- key): what a search rebuild walks.
SELECT id FROM tutors
WHERE deleted_at IS NULL AND published AND id > @after_id::uuid
ORDER BY id
LIMIT @page_limit::int;

-- name: CountTutorsForIndex :one
-- How many published live tutors a search rebuild will walk.
SELECT count(*) FROM tutors WHERE deleted_at IS NULL AND published;
