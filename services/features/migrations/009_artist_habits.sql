-- How the listener plays each artist (services/features/domain/contexts.py, artist_habits):
-- listens in the last 30 days of their listening, and the hour band that is the artist's own
-- ('' when none is); explanations name them ("like your recent plays", "... at night").
ALTER TABLE features.artist_stats ADD COLUMN recent_listens bigint NOT NULL DEFAULT 0;
ALTER TABLE features.artist_stats ADD COLUMN hour_band text NOT NULL DEFAULT '';
