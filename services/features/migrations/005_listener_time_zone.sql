-- The time zone a listener set for themselves (contexts and dayparts are read in it); without
-- a row features infers it from the country they listen from most. `set_at` later than the
-- profile's computed_at means the profile has not been recomputed in it yet.
CREATE TABLE features.listener_time_zones (
    user_id   uuid PRIMARY KEY,
    time_zone text NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT now()
);

-- The zone a profile's contexts were computed in, and where it came from.
ALTER TABLE features.taste_details ADD COLUMN time_zone jsonb;
