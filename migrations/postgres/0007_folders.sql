-- Folders (CONTRACT §8). A folder row exists while its subtree holds a live
-- (not trashed) file or a folder made explicitly with createFolder; the
-- root "/" has none. file_count and size count the live files of the whole
-- subtree; markers counts the explicit folders in it (the folder itself
-- included), explicit is 1 for a folder made with createFolder.
--
-- The database keeps the rows in step with files: triggers on files stage
-- each statement's changes per folder in folder_changes, and at commit a
-- deferred trigger (on folder_changes_pending, a row per transaction)
-- applies the transaction's staged changes to the folder and its ancestors — in (bucket_id, path) order, after every other lock
-- the transaction took, so two transactions never wait for each other's
-- folder rows (media/locks.go). Every write of files, by the server or by
-- hand, is counted in the transaction that made it.
CREATE TABLE folders (
    org_id     text NOT NULL,
    bucket_id  text NOT NULL,
    path       text COLLATE "C" NOT NULL,
    parent     text COLLATE "C" NOT NULL,
    file_count bigint NOT NULL DEFAULT 0,
    size       bigint NOT NULL DEFAULT 0,
    markers    integer NOT NULL DEFAULT 0,
    explicit   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (bucket_id, path)
);
-- Listing a folder's children: an index range in path order.
CREATE INDEX folders_children_idx ON folders (bucket_id, parent, path);
-- A member's view of a RESTRICTED bucket starts from their own files.
CREATE INDEX files_bucket_creator_path_idx ON files (bucket_id, created_by, path);

-- Staged changes, one row per folder and statement, of the transaction xid
-- (rows of committed transactions never remain: the apply deletes them).
-- Unlogged: only in-flight transactions ever have rows here.
CREATE UNLOGGED TABLE folder_changes (
    xid       bigint NOT NULL DEFAULT txid_current(),
    org_id    text NOT NULL,
    bucket_id text NOT NULL,
    path      text COLLATE "C" NOT NULL,
    files     bigint NOT NULL DEFAULT 0,
    bytes     bigint NOT NULL DEFAULT 0,
    markers   integer NOT NULL DEFAULT 0
);
CREATE INDEX folder_changes_xid_idx ON folder_changes (xid);
-- A row per transaction with changes to apply: the apply runs once per
-- transaction, not once per staged row.
CREATE UNLOGGED TABLE folder_changes_pending (xid bigint PRIMARY KEY);

CREATE FUNCTION folders_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM staged) THEN
        INSERT INTO folder_changes_pending (xid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER folder_changes_staged AFTER INSERT ON folder_changes
    REFERENCING NEW TABLE AS staged FOR EACH STATEMENT EXECUTE FUNCTION folders_pending();

CREATE FUNCTION folders_stage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes)
    SELECT org_id, bucket_id, path, count(*), sum(size) FROM new_rows
    WHERE trashed_at IS NULL AND path <> '/' GROUP BY org_id, bucket_id, path;
    RETURN NULL;
END $$;

CREATE FUNCTION folders_stage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes)
    SELECT org_id, bucket_id, path, -count(*), -sum(size) FROM old_rows
    WHERE trashed_at IS NULL AND path <> '/' GROUP BY org_id, bucket_id, path;
    RETURN NULL;
END $$;

CREATE FUNCTION folders_stage_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO folder_changes (org_id, bucket_id, path, files, bytes)
    SELECT org_id, bucket_id, path, sum(n), sum(b) FROM (
        SELECT org_id, bucket_id, path, 1 AS n, size AS b FROM new_rows WHERE trashed_at IS NULL AND path <> '/'
        UNION ALL
        SELECT org_id, bucket_id, path, -1, -size FROM old_rows WHERE trashed_at IS NULL AND path <> '/'
    ) AS c
    GROUP BY org_id, bucket_id, path
    HAVING sum(n) <> 0 OR sum(b) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER files_folders_insert AFTER INSERT ON files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION folders_stage_insert();
CREATE TRIGGER files_folders_delete AFTER DELETE ON files
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION folders_stage_delete();
CREATE TRIGGER files_folders_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION folders_stage_update();

-- folders_apply applies the transaction's staged changes: each to its
-- folder and every ancestor below the root (markers make the folder itself
-- explicit or not), in (bucket_id, path) order, then removes the rows left
-- with neither files nor explicit folders. Changes of a bucket deleted in
-- the transaction are dropped. It runs at commit, once per transaction
-- (once more for changes staged after an earlier run, should a client
-- SET CONSTRAINTS … IMMEDIATE).
CREATE FUNCTION folders_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    empty_buckets text[];
    empty_paths   text[];
BEGIN
    DELETE FROM folder_changes_pending WHERE xid = txid_current();
    WITH staged AS (
        DELETE FROM folder_changes WHERE xid = txid_current()
        RETURNING org_id, bucket_id, path, files, bytes, markers
    ), spread AS (
        SELECT s.org_id, s.bucket_id, left(s.path, i) AS path, s.files, s.bytes, s.markers,
            CASE WHEN i = length(s.path) THEN s.markers ELSE 0 END AS explicit
        FROM staged AS s, generate_series(2, length(s.path)) AS i
        WHERE substr(s.path, i, 1) = '/'
    ), sums AS (
        SELECT org_id, bucket_id, path, sum(files) AS files, sum(bytes) AS bytes, sum(markers) AS markers,
            sum(explicit) AS explicit
        FROM spread GROUP BY org_id, bucket_id, path
    ), applied AS (
        INSERT INTO folders AS fo (org_id, bucket_id, path, parent, file_count, size, markers, explicit, created_at)
        SELECT s.org_id, s.bucket_id, s.path, rtrim(left(s.path, -1), replace(left(s.path, -1), '/', '')),
            s.files, s.bytes, s.markers, s.explicit, now()
        FROM sums AS s
        WHERE (s.files <> 0 OR s.bytes <> 0 OR s.markers <> 0)
            AND EXISTS (SELECT 1 FROM buckets AS b WHERE b.id = s.bucket_id)
        ORDER BY s.bucket_id, s.path
        ON CONFLICT (bucket_id, path) DO UPDATE SET
            file_count = fo.file_count + excluded.file_count, size = fo.size + excluded.size,
            markers = fo.markers + excluded.markers, explicit = fo.explicit + excluded.explicit
        RETURNING fo.bucket_id, fo.path, fo.file_count, fo.markers
    )
    SELECT array_agg(bucket_id), array_agg(path) INTO empty_buckets, empty_paths
    FROM applied WHERE file_count = 0 AND markers = 0;
    IF empty_buckets IS NOT NULL THEN
        DELETE FROM folders AS fo USING unnest(empty_buckets, empty_paths) AS e (bucket_id, path)
        WHERE fo.bucket_id = e.bucket_id AND fo.path = e.path COLLATE "C" AND fo.file_count = 0 AND fo.markers = 0;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER folder_changes_apply AFTER INSERT ON folder_changes_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION folders_apply();

-- The folders of the files there are.
INSERT INTO folders (org_id, bucket_id, path, parent, file_count, size, created_at)
SELECT org_id, bucket_id, path, rtrim(left(path, -1), replace(left(path, -1), '/', '')), count(*), sum(size), min(created_at)
FROM (SELECT f.org_id, f.bucket_id, left(f.path, i) AS path, f.size, f.created_at
      FROM files AS f, generate_series(2, length(f.path)) AS i
      WHERE f.trashed_at IS NULL AND substr(f.path, i, 1) = '/') AS a
GROUP BY org_id, bucket_id, path;
