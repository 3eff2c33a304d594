-- How many of the listener's listens have a known mood, before and after estimating moods from
-- related tags and similar artists, and the estimated artist moods (features/domain/moods.py).
ALTER TABLE features.taste_details ADD COLUMN moods jsonb NOT NULL DEFAULT '{}';
