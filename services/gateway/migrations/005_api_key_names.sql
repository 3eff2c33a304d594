-- What a listener calls each of their API keys ("laptop", "web"), shown beside its id when
-- they list their keys (FullCircle.ListApiKeys); keys made before have none.
ALTER TABLE gateway.api_keys ADD COLUMN name text NOT NULL DEFAULT '';
