-- An upload is a zip (already compressed) or JSON read once and deleted: PostgreSQL's own
-- compression of the stored bytes only costs time (about 0.1 s of a 6 MiB, 140,000-play
-- export's upload was spent trying to compress it). EXTERNAL keeps it out of line, uncompressed.
ALTER TABLE gateway.uploads ALTER COLUMN payload SET STORAGE EXTERNAL;
