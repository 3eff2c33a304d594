-- Features owns each listener's computed taste: per-artist stats with decayed weights,
-- the tag profile, and a versioned profile header.
CREATE SCHEMA IF NOT EXISTS features;

CREATE TABLE features.profiles (
    user_id        uuid PRIMARY KEY,
    version        integer NOT NULL,
    computed_at    timestamptz NOT NULL,
    as_of          timestamptz NOT NULL,
    plays          bigint NOT NULL,
    listens        bigint NOT NULL,
    artists        integer NOT NULL,
    half_life_days double precision NOT NULL
);

CREATE TABLE features.artist_stats (
    user_id        uuid NOT NULL,
    artist_name    text NOT NULL,
    plays          integer NOT NULL,
    listens        integer NOT NULL,
    skips          integer NOT NULL,
    ms_played      bigint NOT NULL,
    first_listen   timestamptz,
    last_listen    timestamptz,
    decayed_weight double precision NOT NULL,
    endorsement    double precision NOT NULL,
    PRIMARY KEY (user_id, artist_name)
);

CREATE TABLE features.tag_profile (
    user_id uuid NOT NULL,
    tag     text NOT NULL,
    weight  double precision NOT NULL,
    PRIMARY KEY (user_id, tag)
);
