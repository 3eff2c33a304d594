-- Feedback on artists (like, dislike, do-not-recommend with expiry), and set revisions: a set
-- remade after feedback keeps the profile version and takes the next revision.
CREATE TABLE model.feedback (
    user_id    uuid NOT NULL,
    artist_key text NOT NULL,
    artist     text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('like', 'dislike', 'do_not_recommend')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    PRIMARY KEY (user_id, artist_key)
);

ALTER TABLE model.recommendation_sets ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE model.recommendation_sets DROP CONSTRAINT recommendation_sets_user_id_profile_version_key;
ALTER TABLE model.recommendation_sets ADD UNIQUE (user_id, profile_version, revision);
