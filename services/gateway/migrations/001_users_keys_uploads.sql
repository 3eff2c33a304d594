-- The gateway owns who the listeners are, their API keys (hashed) and uploaded exports
-- (claim-check blobs that ingest reads by id).
CREATE SCHEMA IF NOT EXISTS gateway;

CREATE TABLE gateway.users (
    user_id    uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateway.api_keys (
    key_id     text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES gateway.users (user_id) ON DELETE CASCADE,
    key_hash   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE gateway.uploads (
    upload_id  uuid PRIMARY KEY,
    import_id  uuid NOT NULL UNIQUE,
    user_id    uuid NOT NULL REFERENCES gateway.users (user_id) ON DELETE CASCADE,
    file_name  text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256     text NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_user ON gateway.uploads (user_id, created_at);
