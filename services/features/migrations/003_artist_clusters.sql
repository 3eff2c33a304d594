-- Which taste cluster each of the listener's artists belongs to (the model balances by it).
ALTER TABLE features.taste_details ADD COLUMN artist_clusters jsonb NOT NULL DEFAULT '[]';
