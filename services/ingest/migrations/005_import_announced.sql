-- When an import's end (its done or failed progress and its plays.ingested) was announced:
-- a redelivered request for an announced import announces nothing again.
ALTER TABLE ingest.imports ADD COLUMN announced_at timestamptz;
UPDATE ingest.imports SET announced_at = finished_at WHERE status <> 'running';
