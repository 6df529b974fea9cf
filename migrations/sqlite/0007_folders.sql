-- Folders (CONTRACT §8). A folder row exists while its subtree holds a live
-- (not trashed) file or a folder made explicitly with createFolder; the
-- root "/" has none. file_count and size count the live files of the whole
-- subtree; markers counts the explicit folders in it (the folder itself
-- included), explicit is 1 for a folder made with createFolder.
--
-- The database keeps the rows in step with files: triggers on files stage
-- each change of a file's folder, size or trash state in folder_changes,
-- whose trigger applies it at once to the folder and its ancestors (SQLite
-- has one writer, so there is no lock order to keep; PostgreSQL applies
-- them at commit). Every write of files, by the server or by hand, is
-- counted in the transaction that made it.
CREATE TABLE folders (
    org_id     TEXT NOT NULL,
    bucket_id  TEXT NOT NULL,
    path       TEXT NOT NULL,
    parent     TEXT NOT NULL,
    file_count INTEGER NOT NULL DEFAULT 0,
    size       INTEGER NOT NULL DEFAULT 0,
    markers    INTEGER NOT NULL DEFAULT 0,
    explicit   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (bucket_id, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX folders_children_idx ON folders (bucket_id, parent, path);
CREATE INDEX files_bucket_creator_path_idx ON files (bucket_id, created_by, path);

-- The character positions a "/" can be at after the first (paths are at
-- most 1024 bytes): a path's ancestors are its prefixes ending at one.
-- Triggers cannot use WITH RECURSIVE, so they join this table instead.
CREATE TABLE folder_levels (n INTEGER PRIMARY KEY) STRICT;
INSERT INTO folder_levels (n)
WITH RECURSIVE l (n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM l WHERE n < 1024) SELECT n FROM l;

CREATE TABLE folder_changes (
    org_id    TEXT NOT NULL,
    bucket_id TEXT NOT NULL,
    path      TEXT NOT NULL,
    files     INTEGER NOT NULL DEFAULT 0,
    bytes     INTEGER NOT NULL DEFAULT 0,
    markers   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A staged change goes to its folder and every ancestor below the root
-- (markers make the folder itself explicit or not); rows left with neither
-- files nor explicit folders go; the staged row goes. Changes of a bucket
-- that no longer exists are dropped.
CREATE TRIGGER folder_changes_apply AFTER INSERT ON folder_changes
BEGIN
    INSERT INTO folders (org_id, bucket_id, path, parent, file_count, size, markers, explicit, created_at)
    SELECT NEW.org_id, NEW.bucket_id, substr(NEW.path, 1, l.n),
        rtrim(substr(NEW.path, 1, l.n - 1), replace(substr(NEW.path, 1, l.n - 1), '/', '')),
        NEW.files, NEW.bytes, NEW.markers, CASE WHEN l.n = length(NEW.path) THEN NEW.markers ELSE 0 END,
        strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')
    FROM folder_levels AS l
    WHERE l.n <= length(NEW.path) AND substr(NEW.path, l.n, 1) = '/'
        AND EXISTS (SELECT 1 FROM buckets AS b WHERE b.id = NEW.bucket_id)
    ON CONFLICT (bucket_id, path) DO UPDATE SET
        file_count = file_count + excluded.file_count, size = size + excluded.size,
        markers = markers + excluded.markers, explicit = explicit + excluded.explicit;
    DELETE FROM folders
    WHERE bucket_id = NEW.bucket_id AND file_count = 0 AND markers = 0 AND path IN (
        SELECT substr(NEW.path, 1, l.n) FROM folder_levels AS l
        WHERE l.n <= length(NEW.path) AND substr(NEW.path, l.n, 1) = '/');
    DELETE FROM folder_changes WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER files_folders_insert AFTER INSERT ON files
WHEN NEW.trashed_at IS NULL AND NEW.path <> '/'
BEGIN
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes) VALUES (NEW.org_id, NEW.bucket_id, NEW.path, 1, NEW.size);
END;

CREATE TRIGGER files_folders_delete AFTER DELETE ON files
WHEN OLD.trashed_at IS NULL AND OLD.path <> '/'
BEGIN
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes) VALUES (OLD.org_id, OLD.bucket_id, OLD.path, -1, -OLD.size);
END;

CREATE TRIGGER files_folders_update AFTER UPDATE OF bucket_id, path, size, trashed_at ON files
WHEN OLD.bucket_id <> NEW.bucket_id OR OLD.path <> NEW.path OR OLD.size <> NEW.size
    OR (OLD.trashed_at IS NULL) <> (NEW.trashed_at IS NULL)
BEGIN
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes)
    SELECT OLD.org_id, OLD.bucket_id, OLD.path, -1, -OLD.size WHERE OLD.trashed_at IS NULL AND OLD.path <> '/';
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes)
    SELECT NEW.org_id, NEW.bucket_id, NEW.path, 1, NEW.size WHERE NEW.trashed_at IS NULL AND NEW.path <> '/';
END;

-- The folders of the files there are.
INSERT INTO folders (org_id, bucket_id, path, parent, file_count, size, created_at)
SELECT org_id, bucket_id, path, rtrim(substr(path, 1, length(path) - 1), replace(substr(path, 1, length(path) - 1), '/', '')),
    count(*), sum(size), min(created_at)
FROM (SELECT f.org_id, f.bucket_id, substr(f.path, 1, l.n) AS path, f.size, f.created_at
      FROM files AS f JOIN folder_levels AS l ON l.n <= length(f.path) AND substr(f.path, l.n, 1) = '/'
      WHERE f.trashed_at IS NULL) AS a
GROUP BY org_id, bucket_id, path;
