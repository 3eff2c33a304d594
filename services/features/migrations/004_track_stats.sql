-- The listener's listens per track (features' listen threshold), so the model picks a
-- listener's own tracks (playlists, rediscovery) from features and never from ingest.plays.
CREATE TABLE features.track_stats (
    user_id     uuid NOT NULL,
    artist_name text NOT NULL,
    track_name  text NOT NULL,
    track_uri   text,
    listens     integer NOT NULL,
    PRIMARY KEY (user_id, artist_name, track_name)
);
CREATE INDEX track_stats_by_artist ON features.track_stats (user_id, lower(artist_name));
