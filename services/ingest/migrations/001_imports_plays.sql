-- Ingest owns every play of every listener (stored once per natural key) and each import's report.
CREATE SCHEMA IF NOT EXISTS ingest;

CREATE TABLE ingest.imports (
    import_id   uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    file_name   text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    plays_read  int NOT NULL DEFAULT 0,
    plays_new   int NOT NULL DEFAULT 0,
    duplicates  int NOT NULL DEFAULT 0,
    set_aside   int NOT NULL DEFAULT 0,
    rejected    int NOT NULL DEFAULT 0,
    report      jsonb,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE TABLE ingest.plays (
    user_id      uuid NOT NULL,
    play_key     text NOT NULL,
    ended_at     timestamptz NOT NULL,
    ms_played    integer NOT NULL,
    track_name   text,
    artist_name  text,
    album_name   text,
    track_uri    text,
    skipped      boolean,
    reason_start text,
    reason_end   text,
    shuffle      boolean,
    offline      boolean,
    incognito    boolean,
    platform     text,
    country      text,
    source       text NOT NULL,
    import_id    uuid,
    PRIMARY KEY (user_id, play_key)
);
CREATE INDEX plays_user_ended ON ingest.plays (user_id, ended_at);
