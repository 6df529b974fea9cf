-- Search (FileFilter.search) and client-assigned ids (File.externalId).
--
-- Words are looked up in two tsvectors kept by PostgreSQL itself (stored
-- generated columns, so no write path can leave them stale): search_name
-- holds the words of the name, search_other those of the tags, alt text,
-- caption and folder path. Tags live in file_tags, which a generated column
-- cannot read, so tags_text repeats them (sorted, space-separated) on the
-- file row; the database layer writes it in the same statement that
-- writes the row or replaces its tags.
--
-- The 'simple' configuration: names, tags and folders are not English
-- prose, so no stemming and no stop words ("the", "a" and "it" stay
-- findable). mediagraph_search_text turns ASCII punctuation into spaces
-- first: the default parser would otherwise read invoice_2025-03.pdf or
-- /a/b/ as one "file" token, and hyphenated words as compounds; after it
-- the parser sees words and numbers only, split where a client splits them.
--
-- Relevance is "every word in the name" before "found elsewhere", each
-- newest first; search_name's index answers the first, the index over both
-- vectors any match. Adding the generated columns rewrites the table once.
CREATE FUNCTION mediagraph_search_text(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate(t, '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                ') $$;

ALTER TABLE files
    ADD COLUMN external_id text,
    ADD COLUMN tags_text text NOT NULL DEFAULT '',
    ADD COLUMN search_name tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, mediagraph_search_text(name))) STORED,
    ADD COLUMN search_other tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, mediagraph_search_text(
            tags_text || ' ' || coalesce(alt_text, '') || ' ' || coalesce(caption, '') || ' ' || path))) STORED;

UPDATE files SET tags_text = t.tags
FROM (SELECT file_id, string_agg(tag, ' ' ORDER BY tag) AS tags FROM file_tags GROUP BY file_id) AS t
WHERE t.file_id = files.id;

CREATE INDEX files_search_name_idx ON files USING gin (search_name);
CREATE INDEX files_search_idx ON files USING gin ((search_name || search_other));

-- One external id per bucket among files that exist (trashed ones keep
-- theirs). Led by org_id and external_id, the same index finds an id in
-- every bucket of the organization; a bucket belongs to one organization,
-- so this is uniqueness per bucket.
CREATE UNIQUE INDEX files_external_id_key ON files (org_id, external_id, bucket_id) WHERE external_id IS NOT NULL;
