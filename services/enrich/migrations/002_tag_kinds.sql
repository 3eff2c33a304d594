-- Each cleaned tag keeps its kind (genre, mood, era, place, other) and, for place-bound genres
-- (bollywood, k pop), the place; explanations and mood playlists read them.
ALTER TABLE enrich.artist_tags
    ADD COLUMN kind text NOT NULL DEFAULT 'other'
        CHECK (kind IN ('genre', 'mood', 'era', 'place', 'other')),
    ADD COLUMN place text;
