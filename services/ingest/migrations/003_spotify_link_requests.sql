-- A Spotify link waiting for its redirect: the PKCE code verifier (sealed) under its state.
CREATE TABLE ingest.spotify_link_requests (
    state           text PRIMARY KEY,
    user_id         uuid NOT NULL,
    user_name       text NOT NULL,
    sealed_verifier bytea NOT NULL,
    time_zone       text NOT NULL,
    sync_cron       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
