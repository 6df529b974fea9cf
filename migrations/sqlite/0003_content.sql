-- Content that uses files: posts and their comments, conversations and their
-- messages, and attachments of files to any of them. An attachment carries
-- the post (for posts and comments) or the conversation (for messages) it
-- belongs to, so visibility checks need no extra join.
CREATE TABLE posts (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    author_id  TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    visibility TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
-- split
CREATE INDEX posts_org_created_idx ON posts (org_id, created_at, id);
-- split
CREATE TABLE comments (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
-- split
CREATE INDEX comments_post_idx ON comments (post_id, created_at, id);
-- split
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    title      TEXT,
    created_at TEXT NOT NULL
) STRICT;
-- split
CREATE TABLE conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) STRICT;
-- split
CREATE INDEX conversation_members_user_idx ON conversation_members (user_id);
-- split
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author_id       TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;
-- split
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at, id);
-- split
CREATE TABLE attachments (
    org_id          TEXT NOT NULL,
    file_id         TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    target_id       TEXT NOT NULL,
    post_id         TEXT REFERENCES posts (id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
    attached_at     TEXT NOT NULL,
    attached_by     TEXT,
    PRIMARY KEY (target_id, file_id)
) STRICT;
-- split
CREATE INDEX attachments_file_idx ON attachments (file_id);
