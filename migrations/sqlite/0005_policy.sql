-- One authorization policy (CONTRACT §6) needs to know what content a file
-- was uploaded into (its author may destroy it; attaching a file later
-- grants nothing) and who made a key for someone else.
ALTER TABLE files ADD COLUMN uploaded_into TEXT;
-- split
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
-- split
-- Upload sessions now always write through a multipart upload, whose part
-- URLs die when it completes or aborts. Sessions opened with a plain PUT URL
-- (which stays valid until it expires) are ended; the sweeper deletes what
-- they stored.
UPDATE upload_sessions SET state = 'EXPIRED' WHERE state = 'OPEN' AND multipart_id = '';
