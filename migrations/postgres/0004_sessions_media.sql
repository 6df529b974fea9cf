-- What analysis learns about content (copied from a file's blob onto the
-- file so listings need no join), bucket policies for malformed media and
-- location data, and
-- upload sessions: large uploads written by clients straight to storage.
ALTER TABLE blobs ADD COLUMN blurhash text, ADD COLUMN dominant_color text, ADD COLUMN page_count integer;
ALTER TABLE files ADD COLUMN blurhash text, ADD COLUMN dominant_color text, ADD COLUMN page_count integer;
ALTER TABLE buckets ADD COLUMN reject_malformed_media boolean NOT NULL DEFAULT false,
    ADD COLUMN strip_gps_metadata boolean NOT NULL DEFAULT false;

CREATE TABLE upload_sessions (
    id              text PRIMARY KEY,
    org_id          text NOT NULL REFERENCES organizations (id),
    bucket_id       text NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
    created_by      text NOT NULL,
    blob_id         text NOT NULL,
    storage_key     text NOT NULL UNIQUE,
    multipart_id    text NOT NULL DEFAULT '',
    part_size       bigint NOT NULL DEFAULT 0,
    size            bigint NOT NULL,
    mime_type       text NOT NULL,
    checksum_sha256 text,
    file            text NOT NULL,
    state           text NOT NULL,
    file_id         text,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX upload_sessions_state_expires_idx ON upload_sessions (state, expires_at);
CREATE INDEX upload_sessions_bucket_idx ON upload_sessions (bucket_id, state);
