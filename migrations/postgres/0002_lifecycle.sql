-- The life of a file: why a file is held, how long a bucket keeps trash,
-- and the sweeper's index of what is due for purging.
ALTER TABLE files ADD COLUMN legal_hold_reason text;
ALTER TABLE buckets ADD COLUMN trash_retention_seconds bigint;
CREATE INDEX files_purge_at_idx ON files (purge_at) WHERE trashed_at IS NOT NULL;
