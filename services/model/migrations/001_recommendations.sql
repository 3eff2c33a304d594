-- The model owns its model versions and every recommendation set with its explanations.
CREATE SCHEMA IF NOT EXISTS model;

CREATE TABLE model.model_versions (
    model_version text PRIMARY KEY,
    user_id       uuid NOT NULL,
    trained_at    timestamptz NOT NULL DEFAULT now(),
    method        text NOT NULL,
    metrics       jsonb NOT NULL DEFAULT '{}',
    features      jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE model.recommendation_sets (
    set_id          uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    profile_version integer NOT NULL,
    model_version   text NOT NULL REFERENCES model.model_versions (model_version),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, profile_version)
);
CREATE INDEX sets_latest ON model.recommendation_sets (user_id, created_at DESC);

CREATE TABLE model.recommendations (
    set_id     uuid NOT NULL REFERENCES model.recommendation_sets (set_id) ON DELETE CASCADE,
    rank       integer NOT NULL,
    artist     text NOT NULL,
    mode       text NOT NULL,
    score      double precision NOT NULL,
    because    text NOT NULL,
    parts      jsonb NOT NULL,
    similar_to text[] NOT NULL,
    top_tags   text[] NOT NULL,
    PRIMARY KEY (set_id, rank)
);
