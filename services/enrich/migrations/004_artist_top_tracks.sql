-- The most played tracks of the artists recommended to listeners (artist.getTopTracks), so a
-- recommendation names songs to play; one fetch row per artist with its time (the TTL cache)
-- and Last.fm's answer (not_found: error 6), then the tracks, most played first.
CREATE TABLE enrich.top_track_fetches (
    artist_key text PRIMARY KEY,
    name       text NOT NULL,
    status     text NOT NULL CHECK (status IN ('ok', 'not_found')),
    fetched_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrich.artist_top_tracks (
    artist_key text NOT NULL REFERENCES enrich.top_track_fetches (artist_key) ON DELETE CASCADE,
    rank       integer NOT NULL,
    track      text NOT NULL,
    playcount  bigint NOT NULL,
    mbid       text NOT NULL DEFAULT '',
    PRIMARY KEY (artist_key, rank)
);
