-- What Spotify's search answered for an artist and title (services/ingest/domain/
-- track_search.py): the track's URI, or NULL for a miss (asked again after 30 days). Catalog
-- knowledge shared by every listener: it names no listener.
CREATE TABLE ingest.spotify_track_search (
    artist_key  text NOT NULL,
    title_key   text NOT NULL,
    track_uri   text,
    searched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (artist_key, title_key)
);
