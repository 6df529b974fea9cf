-- Search (FileFilter.search) and client-assigned ids (File.externalId).
--
-- An FTS5 index over the file rows (external content: it stores only the
-- index, and reads the text from files), kept in step by triggers, so no
-- write path can leave it stale. Its default unicode61 tokenizer splits on
-- everything but letters and digits (_ - . / too) and folds case;
-- diacritics are kept, as PostgreSQL's 'simple' configuration keeps them.
-- Tags live in file_tags; tags_text repeats them (sorted, space-separated)
-- on the file row, written by the database layer with the row.
--
-- Rows are keyed by search_key, not by the rowid: files has a TEXT primary
-- key, and VACUUM may renumber the rowids of such a table. The insert
-- trigger gives each new row the next key.
ALTER TABLE files ADD COLUMN external_id TEXT;
-- split
ALTER TABLE files ADD COLUMN tags_text TEXT NOT NULL DEFAULT '';
-- split
ALTER TABLE files ADD COLUMN search_key INTEGER;
-- split
UPDATE files SET search_key = rowid;
-- split
UPDATE files SET tags_text = (SELECT group_concat(tag, ' ') FROM (SELECT t.tag FROM file_tags AS t WHERE t.file_id = files.id ORDER BY t.tag))
WHERE EXISTS (SELECT 1 FROM file_tags AS t WHERE t.file_id = files.id);
-- split
CREATE UNIQUE INDEX files_search_key ON files (search_key);
-- split
CREATE VIRTUAL TABLE file_search USING fts5(name, tags_text, alt_text, caption, path,
    content = 'files', content_rowid = 'search_key', tokenize = 'unicode61 remove_diacritics 0');
-- split
INSERT INTO file_search (file_search) VALUES ('rebuild');
-- split
CREATE TRIGGER file_search_insert AFTER INSERT ON files BEGIN
    UPDATE files SET search_key = (SELECT coalesce(max(search_key), 0) + 1 FROM files) WHERE rowid = new.rowid;
    INSERT INTO file_search (rowid, name, tags_text, alt_text, caption, path)
        SELECT search_key, name, tags_text, alt_text, caption, path FROM files WHERE rowid = new.rowid;
END;
-- split
CREATE TRIGGER file_search_delete AFTER DELETE ON files BEGIN
    INSERT INTO file_search (file_search, rowid, name, tags_text, alt_text, caption, path)
        VALUES ('delete', old.search_key, old.name, old.tags_text, old.alt_text, old.caption, old.path);
END;
-- split
CREATE TRIGGER file_search_update AFTER UPDATE OF name, tags_text, alt_text, caption, path ON files BEGIN
    INSERT INTO file_search (file_search, rowid, name, tags_text, alt_text, caption, path)
        VALUES ('delete', old.search_key, old.name, old.tags_text, old.alt_text, old.caption, old.path);
    INSERT INTO file_search (rowid, name, tags_text, alt_text, caption, path)
        VALUES (new.search_key, new.name, new.tags_text, new.alt_text, new.caption, new.path);
END;
-- split
-- One external id per bucket among files that exist (trashed ones keep
-- theirs); led by org_id and external_id, it also finds an id in every
-- bucket of the organization.
CREATE UNIQUE INDEX files_external_id_key ON files (org_id, external_id, bucket_id) WHERE external_id IS NOT NULL;
