-- mediagraph schema, SQLite.
--
-- STRICT tables. Times are TEXT in one fixed-width UTC form,
-- 2006-01-02T15:04:05.000000Z, written by the database package: it sorts as
-- text in time order, round-trips at microsecond precision (the precision of
-- PostgreSQL's timestamptz) and stays readable with the sqlite3 shell.
-- JSON columns are TEXT; booleans are INTEGER 0/1.

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    email      TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_org_id_email_key ON users (org_id, lower(email));

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE buckets (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    name               TEXT NOT NULL,
    access             TEXT NOT NULL,
    default_visibility TEXT NOT NULL,
    max_file_size      INTEGER,
    allowed_mime_types TEXT NOT NULL DEFAULT '[]',
    type_limits        TEXT NOT NULL DEFAULT '{}',
    quota_bytes        INTEGER,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

CREATE TABLE blobs (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    storage_key TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL DEFAULT '',
    mime_type   TEXT NOT NULL DEFAULT '',
    width       INTEGER,
    height      INTEGER,
    duration    REAL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX blobs_state_created_at_idx ON blobs (state, created_at);
CREATE INDEX blobs_org_id_sha256_idx ON blobs (org_id, sha256);

CREATE TABLE files (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    bucket_id     TEXT NOT NULL REFERENCES buckets (id),
    path          TEXT NOT NULL,
    name          TEXT NOT NULL,
    original_name TEXT NOT NULL,
    mime_type     TEXT NOT NULL,
    type          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    width         INTEGER,
    height        INTEGER,
    duration      REAL,
    visibility    TEXT NOT NULL,
    alt_text      TEXT,
    caption       TEXT,
    copyright     TEXT,
    metadata      TEXT NOT NULL DEFAULT '{}',
    revision      INTEGER NOT NULL,
    blob_id       TEXT NOT NULL REFERENCES blobs (id),
    legal_hold    INTEGER NOT NULL DEFAULT 0,
    trashed_at    TEXT,
    purge_at      TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    created_by    TEXT,
    updated_by    TEXT
) STRICT;
CREATE UNIQUE INDEX files_live_name_key ON files (bucket_id, path, name) WHERE trashed_at IS NULL;
CREATE INDEX files_org_created_idx ON files (org_id, created_at, id);
CREATE INDEX files_org_bucket_created_idx ON files (org_id, bucket_id, created_at, id);
CREATE INDEX files_org_bucket_updated_idx ON files (org_id, bucket_id, updated_at, id);
CREATE INDEX files_org_bucket_name_idx ON files (org_id, bucket_id, name, id);
CREATE INDEX files_org_bucket_size_idx ON files (org_id, bucket_id, size, id);
CREATE INDEX files_org_bucket_path_created_idx ON files (org_id, bucket_id, path, created_at, id);
CREATE INDEX files_org_bucket_path_name_idx ON files (org_id, bucket_id, path, name, id);
CREATE INDEX files_blob_id_idx ON files (blob_id);

CREATE TABLE file_revisions (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    file_id    TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    blob_id    TEXT NOT NULL REFERENCES blobs (id) ON DELETE RESTRICT,
    size       INTEGER NOT NULL,
    mime_type  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    width      INTEGER,
    height     INTEGER,
    duration   REAL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    UNIQUE (file_id, number)
) STRICT;
CREATE INDEX file_revisions_blob_id_idx ON file_revisions (blob_id);

CREATE TABLE file_tags (
    org_id  TEXT NOT NULL,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (file_id, tag)
) STRICT, WITHOUT ROWID;
CREATE INDEX file_tags_org_id_tag_idx ON file_tags (org_id, tag, file_id);
