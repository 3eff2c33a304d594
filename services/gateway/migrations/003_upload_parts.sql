-- Uploads arrive and rest in parts (a few MiB each, in order), so neither the gateway that
-- receives an export nor ingest that reads it ever holds the whole file. An upload row is
-- written when its first part arrives (complete = false) and completed, with its size and
-- checksum, after its last; ingest is only told of complete uploads. Existing uploads move
-- into one part each.
CREATE TABLE gateway.upload_parts (
    upload_id uuid    NOT NULL REFERENCES gateway.uploads (upload_id) ON DELETE CASCADE,
    part_no   integer NOT NULL,
    data      bytea   NOT NULL,
    PRIMARY KEY (upload_id, part_no)
);
-- Zip or JSON read once: compressing the stored bytes only costs time (see 002).
ALTER TABLE gateway.upload_parts ALTER COLUMN data SET STORAGE EXTERNAL;

INSERT INTO gateway.upload_parts (upload_id, part_no, data)
    SELECT upload_id, 0, payload FROM gateway.uploads;
ALTER TABLE gateway.uploads DROP COLUMN payload;
ALTER TABLE gateway.uploads ADD COLUMN complete boolean NOT NULL DEFAULT true;
