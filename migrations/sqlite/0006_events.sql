-- File events (CONTRACT §7): one row per change, written in the change's
-- transaction. seq orders them: SQLite has one writer at a time, so seqs
-- are assigned in commit order. restricted and uploader_id say who could
-- see a deleted file.
CREATE TABLE file_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      TEXT NOT NULL,
    type        TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    bucket_id   TEXT,
    actor_id    TEXT,
    target_id   TEXT,
    restricted  INTEGER NOT NULL DEFAULT 0,
    uploader_id TEXT,
    at          TEXT NOT NULL
) STRICT;
-- split
CREATE INDEX file_events_org_seq_idx ON file_events (org_id, seq);
-- split
CREATE INDEX file_events_at_idx ON file_events (at);
-- split
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,
    events           TEXT NOT NULL DEFAULT '[]',
    bucket_id        TEXT REFERENCES buckets (id) ON DELETE CASCADE,
    active           INTEGER NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    disabled_at      TEXT,
    failures         INTEGER NOT NULL DEFAULT 0,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
-- split
CREATE INDEX webhooks_org_idx ON webhooks (org_id);
-- split
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (webhook_id, event_seq)
) STRICT;
-- split
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (state, next_attempt_at);
-- split
CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    event_seq   INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    at          TEXT NOT NULL,
    next_attempt_at TEXT
) STRICT;
-- split
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, at, id);
