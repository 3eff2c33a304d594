-- The listening clock (listens and taste shares per hour of each weekday, in the listener's
-- zone) and each year's top artists and tags, replaced with the other details on every
-- recompute; empty until a listener's first recompute after this migration.
ALTER TABLE features.taste_details
    ADD COLUMN clock jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN years jsonb NOT NULL DEFAULT '[]';
