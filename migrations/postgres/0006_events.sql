-- File events (CONTRACT §7): one row per change, written in the change's
-- transaction. seq orders them across the whole system: writers take one
-- advisory lock before inserting, so seqs are assigned in commit order and
-- a reader that has seen seq N has seen every event below it. restricted
-- and uploader_id say who could see a deleted file.
CREATE TABLE file_events (
    seq         bigserial PRIMARY KEY,
    org_id      text NOT NULL,
    type        text NOT NULL,
    file_id     text NOT NULL,
    bucket_id   text,
    actor_id    text,
    target_id   text,
    restricted  boolean NOT NULL DEFAULT false,
    uploader_id text,
    at          timestamptz NOT NULL
);
CREATE INDEX file_events_org_seq_idx ON file_events (org_id, seq);
CREATE INDEX file_events_at_idx ON file_events (at);

-- Webhooks and their outbox: a delivery row per (webhook, event), written
-- with the event; attempts are logged.
CREATE TABLE webhooks (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations (id),
    url              text NOT NULL,
    secret           text NOT NULL,
    events           jsonb NOT NULL DEFAULT '[]',
    bucket_id        text REFERENCES buckets (id) ON DELETE CASCADE,
    active           boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    disabled_at      timestamptz,
    failures         integer NOT NULL DEFAULT 0,
    created_by       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX webhooks_org_idx ON webhooks (org_id);

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    org_id          text NOT NULL,
    webhook_id      text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq       bigint NOT NULL,
    state           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_webhook_event_key UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (state, next_attempt_at);

CREATE TABLE webhook_attempts (
    id          text PRIMARY KEY,
    org_id      text NOT NULL,
    webhook_id  text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    event_seq   bigint NOT NULL,
    attempt     integer NOT NULL,
    status      integer,
    error       text,
    at          timestamptz NOT NULL,
    next_attempt_at timestamptz
);
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, at, id);
