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
-- several processes record the first refusal of the hour once. hour is Unix time / 3600.
CREATE TABLE key_refusal_marks (
    public_id TEXT NOT NULL,
    hour      BIGINT NOT NULL,
    PRIMARY KEY (public_id, hour)
);

-- The audit log is append-only here too: no UPDATE ever, and DELETE only while the retention
-- job's transaction holds a row in audit_prune (SQLite has no session settings; its writers
-- take turns, so no other transaction sees the row).
CREATE TABLE audit_prune (on_since BIGINT NOT NULL);
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_prune)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
DROP TABLE audit_prune;
DROP TABLE key_refusal_marks;
DROP TABLE key_tombstones;
