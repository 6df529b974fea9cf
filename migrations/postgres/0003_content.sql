-- Content that uses files: posts and their comments, conversations and their
-- messages, and attachments of files to any of them. An attachment carries
-- the post (for posts and comments) or the conversation (for messages) it
-- belongs to, so visibility checks need no extra join.
CREATE TABLE posts (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    author_id  text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    visibility text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX posts_org_created_idx ON posts (org_id, created_at, id);

CREATE TABLE comments (
    id         text PRIMARY KEY,
    org_id     text NOT NULL,
    post_id    text NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX comments_post_idx ON comments (post_id, created_at, id);

CREATE TABLE conversations (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    title      text,
    created_at timestamptz NOT NULL
);

CREATE TABLE conversation_members (
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    org_id          text NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user_idx ON conversation_members (user_id);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    org_id          text NOT NULL,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author_id       text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at, id);

CREATE TABLE attachments (
    org_id          text NOT NULL,
    file_id         text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    target_id       text NOT NULL,
    post_id         text REFERENCES posts (id) ON DELETE CASCADE,
    conversation_id text REFERENCES conversations (id) ON DELETE CASCADE,
    attached_at     timestamptz NOT NULL,
    attached_by     text,
    PRIMARY KEY (target_id, file_id)
);
CREATE INDEX attachments_file_idx ON attachments (file_id);
