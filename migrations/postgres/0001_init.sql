-- mediagraph schema, PostgreSQL.
--
-- Ids are text (prefixed, time-ordered). Times are timestamptz, kept at
-- microsecond precision. Folder paths, file names and bucket names use the
-- "C" collation: they sort by code point exactly as on SQLite, and a folder
-- subtree (path >= '/a/' AND path < '/a0') is an index range scan.

CREATE TABLE organizations (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT organizations_name_key UNIQUE (name)
);

CREATE TABLE users (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    email      text NOT NULL,
    name       text NOT NULL,
    role       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_org_id_email_key ON users (org_id, lower(email));

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES organizations (id),
    user_id      text NOT NULL REFERENCES users (id),
    name         text NOT NULL,
    prefix       text NOT NULL,
    hash         text NOT NULL,
    scopes       jsonb NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE buckets (
    id                 text PRIMARY KEY,
    org_id             text NOT NULL REFERENCES organizations (id),
    name               text COLLATE "C" NOT NULL,
    access             text NOT NULL,
    default_visibility text NOT NULL,
    max_file_size      bigint,
    allowed_mime_types jsonb NOT NULL DEFAULT '[]',
    type_limits        jsonb NOT NULL DEFAULT '{}',
    quota_bytes        bigint,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT buckets_org_id_name_key UNIQUE (org_id, name)
);

CREATE TABLE blobs (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations (id),
    storage_key text NOT NULL,
    state       text NOT NULL,
    size        bigint NOT NULL,
    sha256      text NOT NULL DEFAULT '',
    mime_type   text NOT NULL DEFAULT '',
    width       integer,
    height      integer,
    duration    double precision,
    created_at  timestamptz NOT NULL,
    CONSTRAINT blobs_storage_key_key UNIQUE (storage_key)
);
CREATE INDEX blobs_state_created_at_idx ON blobs (state, created_at);
CREATE INDEX blobs_org_id_sha256_idx ON blobs (org_id, sha256);

CREATE TABLE files (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES organizations (id),
    bucket_id     text NOT NULL REFERENCES buckets (id),
    path          text COLLATE "C" NOT NULL,
    name          text COLLATE "C" NOT NULL,
    original_name text NOT NULL,
    mime_type     text NOT NULL,
    type          text NOT NULL,
    size          bigint NOT NULL,
    sha256        text NOT NULL,
    width         integer,
    height        integer,
    duration      double precision,
    visibility    text NOT NULL,
    alt_text      text,
    caption       text,
    copyright     text,
    metadata      jsonb NOT NULL DEFAULT '{}',
    revision      integer NOT NULL,
    blob_id       text NOT NULL REFERENCES blobs (id),
    legal_hold    boolean NOT NULL DEFAULT false,
    trashed_at    timestamptz,
    purge_at      timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    created_by    text,
    updated_by    text
);
-- One live file per name and folder; trashed files keep their name.
CREATE UNIQUE INDEX files_live_name_key ON files (bucket_id, path, name) WHERE trashed_at IS NULL;
-- Listings: every query has org_id = ?, most a bucket, folder listings a path.
CREATE INDEX files_org_created_idx ON files (org_id, created_at, id);
CREATE INDEX files_org_bucket_created_idx ON files (org_id, bucket_id, created_at, id);
CREATE INDEX files_org_bucket_updated_idx ON files (org_id, bucket_id, updated_at, id);
CREATE INDEX files_org_bucket_name_idx ON files (org_id, bucket_id, name, id);
CREATE INDEX files_org_bucket_size_idx ON files (org_id, bucket_id, size, id);
CREATE INDEX files_org_bucket_path_created_idx ON files (org_id, bucket_id, path, created_at, id);
CREATE INDEX files_org_bucket_path_name_idx ON files (org_id, bucket_id, path, name, id);
CREATE INDEX files_blob_id_idx ON files (blob_id);

CREATE TABLE file_revisions (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    file_id    text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    number     integer NOT NULL,
    blob_id    text NOT NULL REFERENCES blobs (id) ON DELETE RESTRICT,
    size       bigint NOT NULL,
    mime_type  text NOT NULL,
    sha256     text NOT NULL,
    width      integer,
    height     integer,
    duration   double precision,
    created_at timestamptz NOT NULL,
    created_by text,
    CONSTRAINT file_revisions_file_id_number_key UNIQUE (file_id, number)
);
CREATE INDEX file_revisions_blob_id_idx ON file_revisions (blob_id);

CREATE TABLE file_tags (
    org_id  text NOT NULL,
    file_id text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    tag     text NOT NULL,
    PRIMARY KEY (file_id, tag)
);
CREATE INDEX file_tags_org_id_tag_idx ON file_tags (org_id, tag, file_id);
