-- Track top tags for the listener's most-played tracks, and the artists Last.fm ranks first
-- for a tag (a second candidate source next to similar artists), each with its fetch time.
CREATE TABLE enrich.tracks (
    track_key  text PRIMARY KEY,           -- lower(artist) || ' - ' || lower(track)
    artist     text NOT NULL,
    track      text NOT NULL,
    status     text NOT NULL CHECK (status IN ('ok', 'not_found')),
    fetched_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrich.track_tags (
    track_key text NOT NULL REFERENCES enrich.tracks (track_key) ON DELETE CASCADE,
    tag       text NOT NULL,
    weight    integer NOT NULL,
    kind      text NOT NULL,
    PRIMARY KEY (track_key, tag)
);

CREATE TABLE enrich.tags (
    tag        text PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('ok', 'not_found')),
    fetched_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrich.tag_top_artists (
    tag        text NOT NULL REFERENCES enrich.tags (tag) ON DELETE CASCADE,
    rank       integer NOT NULL,
    artist_key text NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (tag, rank)
);
