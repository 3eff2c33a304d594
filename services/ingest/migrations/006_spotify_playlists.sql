-- The Spotify playlists Full-Circle wrote for a listener, one per playlist key (the prompt, as
-- the listener typed it, lower case): writing it again replaces its items in place, so it
-- stays where the listener saved it. Erased with the account (user_id).
CREATE TABLE ingest.spotify_playlists (
    user_id      uuid NOT NULL,
    playlist_key text NOT NULL,
    playlist_id  text NOT NULL,
    items        integer NOT NULL,
    written_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, playlist_key)
);
