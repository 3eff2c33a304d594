-- Which imports.requested event an import's end (its done or failed progress and its
-- plays.ingested) was announced for, and when: a redelivery of that event announces nothing
-- again; a new request for the same import (`fullcircle replay`) announces the same record.
ALTER TABLE ingest.imports ADD COLUMN announced_for uuid;
ALTER TABLE ingest.imports ADD COLUMN announced_at timestamptz;
