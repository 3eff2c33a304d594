-- What each listener excludes from their taste (services/features/domain/exclusions.py): the
-- plays matching every condition given are left out of the profile and the training views.
-- Undoing one sets removed_at (kept until the recompute that follows has run, so a features
-- that stopped in between recomputes at its next start); created_at / removed_at later than
-- the profile's computed_at mean the profile has not followed yet.
CREATE TABLE features.taste_exclusions (
    exclusion_id uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    artist       text NOT NULL DEFAULT '',
    track        text NOT NULL DEFAULT '',
    played_from  timestamptz,
    played_until timestamptz,
    platform     text NOT NULL DEFAULT '',
    hour_from    smallint,
    hour_to      smallint,
    window_text  text NOT NULL DEFAULT '',
    hours_text   text NOT NULL DEFAULT '',
    plays        integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    removed_at   timestamptz
);
CREATE INDEX taste_exclusions_of ON features.taste_exclusions (user_id) WHERE removed_at IS NULL;
