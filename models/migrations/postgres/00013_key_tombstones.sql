-- +goose Up
-- The secrets that stopped working because their key was deleted, or because a rotation
-- replaced them, kept 30 days by SHA-256 with the key they belonged to: a request that still
-- presents one is refused as any unknown secret, and the audit log names the key it was.
CREATE TABLE key_tombstones (
    secret_hash TEXT PRIMARY KEY,
    api_key_id  BIGINT NOT NULL,
    public_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    retired_at  BIGINT NOT NULL
);
CREATE INDEX key_tombstones_retired_at ON key_tombstones (retired_at);

-- One row per key and hour in which a refusal of it was recorded in the audit log, so that
-- several instances record the first refusal of the hour once. hour is Unix time / 3600.
CREATE TABLE key_refusal_marks (
    public_id TEXT NOT NULL,
    hour      BIGINT NOT NULL,
    PRIMARY KEY (public_id, hour)
);

-- +goose Down
DROP TABLE key_refusal_marks;
DROP TABLE key_tombstones;
