-- How a profile's artist weights were made (services/features/domain/recency.py): fitted to
-- the listener's own history, or the fixed half-life (then `recency` says why), in words.
ALTER TABLE features.profiles ADD COLUMN recency text NOT NULL DEFAULT '';
ALTER TABLE features.profiles ADD COLUMN recency_fitted boolean NOT NULL DEFAULT false;
