-- Enrich owns what Last.fm says about artists: tags, similar artists, popularity, and a fetch log.
-- Artists are keyed by their lower-cased name, as Last.fm matches names case-insensitively.
CREATE SCHEMA IF NOT EXISTS enrich;

CREATE TABLE enrich.artists (
    artist_key  text PRIMARY KEY,
    name        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('ok', 'not_found')),
    listeners   bigint,
    playcount   bigint,
    tags_fetched_at    timestamptz,
    similar_fetched_at timestamptz
);

CREATE TABLE enrich.artist_tags (
    artist_key text NOT NULL REFERENCES enrich.artists (artist_key) ON DELETE CASCADE,
    tag        text NOT NULL,
    weight     integer NOT NULL,
    PRIMARY KEY (artist_key, tag)
);

CREATE TABLE enrich.similar_artists (
    artist_key  text NOT NULL REFERENCES enrich.artists (artist_key) ON DELETE CASCADE,
    similar_key text NOT NULL,
    similar_name text NOT NULL,
    match       double precision NOT NULL,
    PRIMARY KEY (artist_key, similar_key)
);
CREATE INDEX similar_by_target ON enrich.similar_artists (similar_key);

CREATE TABLE enrich.fetch_log (
    fetch_id   bigserial PRIMARY KEY,
    method     text NOT NULL,
    artist_key text NOT NULL,
    outcome    text NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now()
);
