-- The listener's taste clusters, context profiles (hour band, weekday/weekend, platform) and
-- month-by-month evolution, as documents replaced on every recompute.
CREATE TABLE features.taste_details (
    user_id     uuid PRIMARY KEY,
    clusters    jsonb NOT NULL,
    contexts    jsonb NOT NULL,
    evolution   jsonb NOT NULL,
    computed_at timestamptz NOT NULL
);
