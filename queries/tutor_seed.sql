-- name: SeedTutors :execrows
-- Development data: creates @count users with published tutor profiles, numbered from
-- @first, varied but deterministic for a given (@seed, number) so benchmarks are
-- reproducible. Set-based: one statement per batch, no round trip per row. Every value drawn
-- here is one the API's validation accepts.
WITH src AS (
    SELECT g,
           gen_random_uuid() AS user_id,
           abs(hashint8(g * 7 + @seed::bigint)::bigint) AS h1,
           abs(hashint8(g * 13 + @seed::bigint)::bigint) AS h2,
           abs(hashint8(g * 31 + @seed::bigint)::bigint) AS h3,
           abs(hashint8(g * 71 + @seed::bigint)::bigint) AS h4
    FROM generate_series(sqlc.arg(first)::bigint, sqlc.arg(first)::bigint + sqlc.arg(count)::bigint - 1) AS g
),
pools AS (
    SELECT ARRAY['Ada', 'Amara', 'Aiko', 'Ben', 'Carlos', 'Chen', 'Chloe', 'Daniel', 'Elena', 'Fatima',
                 'Farid', 'Grace', 'Hana', 'Hugo', 'Ines', 'Ivan', 'Jonas', 'Julia', 'Kofi', 'Lena',
                 'Liam', 'Lucia', 'Maya', 'Mateo', 'Nadia', 'Noah', 'Olga', 'Omar', 'Priya', 'Rafael',
                 'Sara', 'Sofia', 'Tariq', 'Tom', 'Yara', 'Yusuf', 'Zoe', 'Wei', 'Emma', 'Arjun'] AS first_names,
           ARRAY['Adeyemi', 'Alvarez', 'Andersson', 'Bauer', 'Brown', 'Chen', 'Costa', 'Dubois', 'Eriksen',
                 'Fischer', 'Garcia', 'Haddad', 'Ibrahim', 'Ivanova', 'Jensen', 'Kim', 'Kowalski', 'Laurent',
                 'Martin', 'Mehta', 'Moreau', 'Müller', 'Nakamura', 'Novak', 'Okafor', 'Oliveira', 'Park',
                 'Patel', 'Rossi', 'Santos', 'Schmidt', 'Silva', 'Singh', 'Smith', 'Tanaka', 'Weber',
                 'Williams', 'Yilmaz', 'Zhang', 'Nguyen'] AS last_names,
           ARRAY['Patient', 'Experienced', 'Certified', 'Friendly', 'Exam-focused', 'Native-speaking',
                 'University', 'Enthusiastic', 'Structured', 'Creative'] AS adjectives,
           ARRAY['I tailor every lesson to the student''s goals and pace.',
                 'Lessons mix clear explanations with plenty of practice.',
                 'I have prepared hundreds of students for their final exams.',
                 'My students say I make difficult topics feel simple.',
                 'Homework help, exam preparation and long-term coaching.',
                 'I hold a degree in the subject and teach full time.',
                 'Every lesson ends with a short recap and next steps.',
                 'Beginners and advanced learners are equally welcome.'] AS sentences,
           ARRAY['primary', 'secondary', 'upper_secondary', 'undergraduate', 'postgraduate', 'adult'] AS levels,
           ARRAY['es', 'fr', 'de', 'pt-BR', 'it', 'zh', 'ja', 'ar', 'hi', 'ru', 'pl', 'nl', 'tr', 'ko'] AS languages,
           ARRAY['USD', 'EUR', 'GBP', 'USD', 'EUR', 'CAD', 'AUD', 'USD', 'CHF', 'EUR'] AS currencies,
           ARRAY['Europe/London', 'Europe/Berlin', 'Europe/Madrid', 'America/New_York', 'America/Chicago',
                 'America/Los_Angeles', 'America/Sao_Paulo', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney',
                 'Africa/Lagos', 'Asia/Singapore'] AS time_zones,
           (SELECT array_agg(id ORDER BY slug) FROM subjects) AS subject_ids
),
people AS (
    SELECT src.*,
           p.first_names[1 + h1 % 40] || ' ' || p.last_names[1 + h2 % 40] AS display_name
    FROM src, pools p
),
new_users AS (
    INSERT INTO users (id, email, display_name, roles, timezone)
    SELECT user_id, 'seed-tutor-' || g || '@example.com', display_name, '{student,tutor}',
           (SELECT time_zones[1 + h3 % 12] FROM pools)
    FROM people
    RETURNING id
)
INSERT INTO tutors (user_id, headline, bio, subjects, hourly_rate_minor, currency, languages,
                    lesson_modes, time_zone, availability, published, created_at, updated_at)
SELECT ppl.user_id,
       p.adjectives[1 + ppl.h3 % 10] || ' tutor, ' || (1 + ppl.h4 % 25) || ' years of experience',
       'Hi, I am ' || ppl.display_name || '. ' || p.sentences[1 + ppl.h1 % 8] || ' ' ||
           p.sentences[1 + (ppl.h1 / 8 + 3) % 8],
       (SELECT jsonb_agg(jsonb_build_object(
                   'subject_id', p.subject_ids[1 + (ppl.h1 / 64 + k * 7) % cardinality(p.subject_ids)],
                   'levels', (SELECT jsonb_agg(p.levels[1 + (ppl.h2 / 16 + k + j) % 6] ORDER BY j)
                              FROM generate_series(0, (ppl.h2 / 4 + k) % 3) AS j)))
        FROM generate_series(0, ppl.h1 / 8192 % 3) AS k),
       (1000 + (ppl.h2 / 1024 % 120) * 100)::bigint,
       p.currencies[1 + ppl.h3 / 16 % 10],
       CASE WHEN ppl.h4 % 10 < 7 THEN ARRAY['en'] ELSE ARRAY[]::text[] END ||
           (SELECT coalesce(array_agg(p.languages[1 + (ppl.h4 / 16 + k) % 14] ORDER BY k), '{}')
            FROM generate_series(1, ppl.h4 / 256 % 3 + CASE WHEN ppl.h4 % 10 < 7 THEN 0 ELSE 1 END) AS k),
       CASE WHEN ppl.h3 % 10 < 6 THEN ARRAY['online']
            WHEN ppl.h3 % 10 < 9 THEN ARRAY['online', 'in_person']
            ELSE ARRAY['in_person'] END,
       p.time_zones[1 + ppl.h3 % 12],
       (SELECT jsonb_agg(jsonb_build_object(
                   'day', 1 + (ppl.h4 / 4096 + d) % 7,
                   'start', 480 + (ppl.h1 / 32 + d) % 20 * 30,
                   'end', 480 + (ppl.h1 / 32 + d) % 20 * 30 + 60 + (ppl.h2 / 8 + d) % 3 * 60) ORDER BY d)
        FROM generate_series(0, ppl.h4 / 65536 % 5) AS d),
       ppl.h1 % 10 <> 0,
       now() - make_interval(mins => (ppl.h2 % 525600)::int),
       now()
FROM people ppl, pools p;

-- name: CountSeededTutors :one
-- How many development tutors exist, so a new batch continues their numbering.
SELECT count(*) FROM users WHERE email LIKE 'seed-tutor-%@example.com';
