-- +goose Up
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    permission    TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT REFERENCES users(id) ON DELETE CASCADE,
    data         BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE setup_tokens (
    id         BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);

CREATE TABLE api_keys (
    id               BIGSERIAL PRIMARY KEY,
    public_id        TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    name_lower       TEXT NOT NULL UNIQUE,
    scope            TEXT NOT NULL,
    secret_hash      TEXT NOT NULL UNIQUE,
    hint             TEXT NOT NULL,
    created_by_id    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ,
    last_used_at     TIMESTAMPTZ,
    last_used_ip     TEXT NOT NULL DEFAULT '',
    last_used_client TEXT NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_created_at ON api_keys (created_at, id);
-- Searching by any part of a name uses trigrams (pg_trgm is a trusted extension: the database
-- owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX api_keys_name_trigram ON api_keys USING gin (name_lower public.gin_trgm_ops);
-- Sorting by expiry puts keys that never expire after every date, on both databases.
CREATE INDEX api_keys_expiry_order ON api_keys ((expires_at IS NULL), expires_at, id);

-- Who presented each key: one row per client and address, for the delete warning.
CREATE TABLE api_key_clients (
    api_key_id   BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    client       TEXT NOT NULL,
    ip           TEXT NOT NULL,
    scanner      BOOLEAN NOT NULL DEFAULT FALSE,
    last_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (api_key_id, client, ip)
);

-- +goose Down
DROP TABLE api_key_clients;
DROP TABLE api_keys;
DROP TABLE setup_tokens;
DROP TABLE settings;
DROP TABLE sessions;
DROP TABLE users;
