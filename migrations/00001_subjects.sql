-- The subject catalogue tutors teach. Seeded with stable ids (UUIDv5 of the slug) so every
-- environment agrees on them.

-- +goose Up
CREATE TABLE subjects (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 64),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    category   text NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keyset pagination: ORDER BY name, id with or without a category filter.
CREATE INDEX subjects_name_id_idx ON subjects (name, id);
CREATE INDEX subjects_category_name_id_idx ON subjects (category, name, id);

INSERT INTO subjects (id, slug, name, category) VALUES
    ('d4706666-3b3f-5254-b858-719197bb6436', 'mathematics', 'Mathematics', 'STEM'),
    ('7bd96d26-6c73-5b08-bced-8394c5725226', 'physics', 'Physics', 'STEM'),
    ('e4eeba4d-ab9d-51e7-b099-81c232e17776', 'chemistry', 'Chemistry', 'STEM'),
    ('3c450210-46b3-5217-8ddb-806e0b5609e3', 'biology', 'Biology', 'STEM'),
    ('bad44ba5-2672-5dbb-b339-317170bc475c', 'computer-science', 'Computer Science', 'STEM'),
    ('ad8bb082-bdbd-5cf0-a0d7-4fef10b70972', 'statistics', 'Statistics', 'STEM'),
    ('eedc3498-bc52-59b0-ae7e-70d3d7cd1c1d', 'engineering', 'Engineering', 'STEM'),
    ('caa2ea2e-0cee-5128-8253-0c842fb46812', 'english', 'English', 'Languages'),
    ('28490c5d-04f9-51ec-a986-ab3c4f87445d', 'spanish', 'Spanish', 'Languages'),
    ('08711235-a3ae-5dcf-bcec-0be8bd8ec73d', 'french', 'French', 'Languages'),
    ('cbe5d664-2462-57d4-b68d-f83f9c071155', 'german', 'German', 'Languages'),
    ('04113c45-f10f-55f3-a2eb-b0cca9dc5dbe', 'mandarin-chinese', 'Mandarin Chinese', 'Languages'),
    ('9d25ebda-301e-579c-9e1b-c0f54f911d95', 'japanese', 'Japanese', 'Languages'),
    ('b2019d68-373a-5342-8b0a-47f863a27e74', 'arabic', 'Arabic', 'Languages'),
    ('a8226621-c338-508f-9d6c-4f4916e6802d', 'italian', 'Italian', 'Languages'),
    ('488de6ad-69b0-5430-b198-1e52cd2d8ada', 'portuguese', 'Portuguese', 'Languages'),
    ('4aabecc4-0f6b-557e-abcc-4ce8e60e0f08', 'history', 'History', 'Humanities'),
    ('e790ddf5-6f27-5023-af4b-0b7bc8a20557', 'geography', 'Geography', 'Humanities'),
    ('22cbb54f-f87f-5752-b3ca-2b2f0cf6a418', 'philosophy', 'Philosophy', 'Humanities'),
    ('5fa06420-97f2-5c7b-8a68-81eae1fa5a44', 'literature', 'Literature', 'Humanities'),
    ('545d6283-d695-580c-be35-6850d4b5428d', 'economics', 'Economics', 'Social Sciences'),
    ('50b5a2b6-3046-50d3-bd72-2fd31b2e4ced', 'psychology', 'Psychology', 'Social Sciences'),
    ('9eedc11a-36e6-5e2d-b73a-2e1e25742d8c', 'sociology', 'Sociology', 'Social Sciences'),
    ('ba638b60-2683-5cee-b08f-2b0ea370e868', 'business-studies', 'Business Studies', 'Social Sciences'),
    ('5fd0a7ce-400a-592b-bc3c-03002277b0c4', 'accounting', 'Accounting', 'Social Sciences'),
    ('36ca826d-b04d-55d1-9303-f4013429e432', 'music', 'Music', 'Arts'),
    ('9a3decf7-bd69-5995-a944-945c9ef4145d', 'art-and-design', 'Art and Design', 'Arts'),
    ('febcc966-755f-5f01-bfc1-b9e0516112f7', 'drama', 'Drama', 'Arts'),
    ('1f439241-1d4c-5772-9bca-bcd8c53dcbac', 'test-preparation', 'Test Preparation', 'Exam Skills'),
    ('9764c5af-e7b8-58a7-bcb7-c6240ac3354c', 'essay-writing', 'Essay Writing', 'Exam Skills');
