-- Every trained model of a listener, versioned: its learned configuration (part weights, the
-- liked classifier's hyperparameters and label rule), the features it used, its validation
-- metrics on the time-ordered holdout, and whether it is the one in use (at most one per user).
-- Rejected models stay, inactive, so every retrain is on record.
CREATE TABLE model.trained_models (
    model_id        uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    version         integer NOT NULL,
    model_version   text NOT NULL UNIQUE,
    profile_version integer NOT NULL,
    method          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    params          jsonb NOT NULL,
    features        jsonb NOT NULL,
    metrics         jsonb NOT NULL,
    active          boolean NOT NULL DEFAULT false,
    UNIQUE (user_id, version)
);
CREATE UNIQUE INDEX trained_models_one_active ON model.trained_models (user_id) WHERE active;

-- Where each recommended artist came from: similar, tag_top, co_listening.
ALTER TABLE model.recommendations ADD COLUMN sources text[] NOT NULL DEFAULT '{}';
