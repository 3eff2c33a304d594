-- How each listener steers their recommendations (services/model/domain/steering.py): taste
-- name -> 'more' / 'less', and the familiarity dial (0 deep cuts .. 1 popular; NULL as the
-- model ranks). Applied when a set is served.
CREATE TABLE model.steering (
    user_id     uuid PRIMARY KEY,
    tastes      jsonb NOT NULL DEFAULT '{}',
    familiarity real CHECK (familiarity BETWEEN 0 AND 1),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
