-- A sync claims its account for a while (lease) so two ingest replicas never both refresh one
-- rotating refresh token; a crashed replica's lease runs out and another replica takes it.
ALTER TABLE ingest.spotify_accounts
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN leased_by   text;
