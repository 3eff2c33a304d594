-- What the gateway keeps of an upload once it is read: the small row (import id, file name,
-- size, checksum, when, how the import ended) stays for WatchImport, the checksum dedupe and
-- account deletion; the parts (the bytes, with the IP address Spotify puts in every row) go
-- once the import is done (after UPLOAD_RETENTION_S) or at once when it failed on the file.
-- outcome: NULL while the import runs; done; failed (the file's fault: parts deleted); kept
-- (failed on our side: parts kept so the import can be retried).
ALTER TABLE gateway.uploads
    ADD COLUMN outcome text CHECK (outcome IN ('done', 'failed', 'kept')),
    ADD COLUMN finished_at timestamptz,
    -- when the last part arrived: an incomplete upload silent for long was left by a gateway
    -- that died (or a client that vanished) and is swept
    ADD COLUMN received_at timestamptz NOT NULL DEFAULT now(),
    -- when imports.requested was published for it: a complete upload without it (its gateway
    -- died between completing it and asking ingest) is asked for by the sweep
    ADD COLUMN requested_at timestamptz;
UPDATE gateway.uploads SET requested_at = created_at;
-- An identical upload by the same listener is recognised by its checksum.
CREATE INDEX uploads_checksum ON gateway.uploads (user_id, sha256) WHERE complete;
CREATE INDEX uploads_incomplete ON gateway.uploads (received_at) WHERE NOT complete;
CREATE INDEX uploads_finished ON gateway.uploads (finished_at) WHERE outcome = 'done';
CREATE INDEX uploads_unrequested ON gateway.uploads (received_at)
    WHERE complete AND requested_at IS NULL;
