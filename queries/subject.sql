-- name: ListSubjects :many
-- One page of the catalogue in (name, id) order, after the keyset (after_name, after_id) when
-- given; optionally only one category. Served by subjects_name_id_idx or
-- subjects_category_name_id_idx.
SELECT id, slug, name, category
FROM subjects
WHERE (sqlc.narg(category)::text IS NULL OR category = sqlc.narg(category)::text)
  AND (sqlc.narg(after_name)::text IS NULL
       OR (name, id) > (sqlc.narg(after_name)::text, sqlc.narg(after_id)::uuid))
ORDER BY name, id
LIMIT sqlc.arg(page_limit)::int;

-- name: GetSubject :one
SELECT id, slug, name, category
FROM subjects
WHERE id = $1;
