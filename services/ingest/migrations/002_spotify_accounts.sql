-- Linked Spotify accounts: tokens sealed with the service's secret (never stored in clear),
-- the recently-played cursor, and each listener's sync schedule in their own time zone.
CREATE TABLE ingest.spotify_accounts (
    user_id         uuid PRIMARY KEY,
    user_name       text NOT NULL,
    sealed_tokens   bytea NOT NULL,
    cursor_ms       bigint,
    time_zone       text NOT NULL DEFAULT 'UTC',
    sync_cron       text NOT NULL DEFAULT '0 8,14,22 * * *',
    next_sync_at    timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'linked' CHECK (status IN ('linked', 'relink_required')),
    last_sync_at    timestamptz,
    last_sync_plays integer,
    possible_gap_at timestamptz,
    last_error      text,
    linked_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spotify_accounts_due ON ingest.spotify_accounts (next_sync_at) WHERE status = 'linked';
