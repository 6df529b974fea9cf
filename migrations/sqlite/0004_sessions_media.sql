-- What analysis learns about content (copied from a file's blob onto the
-- file so listings need no join), bucket policies for malformed media and
-- location data, and
-- upload sessions: large uploads written by clients straight to storage.
ALTER TABLE blobs ADD COLUMN blurhash TEXT;
-- split
ALTER TABLE blobs ADD COLUMN dominant_color TEXT;
-- split
ALTER TABLE blobs ADD COLUMN page_count INTEGER;
-- split
ALTER TABLE files ADD COLUMN blurhash TEXT;
-- split
ALTER TABLE files ADD COLUMN dominant_color TEXT;
-- split
ALTER TABLE files ADD COLUMN page_count INTEGER;
-- split
ALTER TABLE buckets ADD COLUMN reject_malformed_media INTEGER NOT NULL DEFAULT 0;
-- split
ALTER TABLE buckets ADD COLUMN strip_gps_metadata INTEGER NOT NULL DEFAULT 0;
-- split
CREATE TABLE upload_sessions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    bucket_id       TEXT NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
    created_by      TEXT NOT NULL,
    blob_id         TEXT NOT NULL,
    storage_key     TEXT NOT NULL UNIQUE,
    multipart_id    TEXT NOT NULL DEFAULT '',
    part_size       INTEGER NOT NULL DEFAULT 0,
    size            INTEGER NOT NULL,
    mime_type       TEXT NOT NULL,
    checksum_sha256 TEXT,
    file            TEXT NOT NULL,
    state           TEXT NOT NULL,
    file_id         TEXT,
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
-- split
CREATE INDEX upload_sessions_state_expires_idx ON upload_sessions (state, expires_at);
-- split
CREATE INDEX upload_sessions_bucket_idx ON upload_sessions (bucket_id, state);
