-- +goose Up
-- Proof of revocation. Every running instance keeps a row of its own, written again at each
-- heartbeat; it is live while live_until has not passed (three heartbeats), and deleted when the
-- instance stops. Times are Unix microseconds: an integer compares and subtracts the same way on
-- both databases, and the console reports revocations in milliseconds.
CREATE TABLE instances (
    id             TEXT PRIMARY KEY,
    address        TEXT NOT NULL,
    hostname       TEXT NOT NULL,
    version        TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    heartbeat_at   BIGINT NOT NULL,
    live_until     BIGINT NOT NULL,
    listener_state TEXT NOT NULL,
    cache_entries  BIGINT NOT NULL
);
CREATE INDEX instances_live_until ON instances (live_until);

-- One row per change that ended the validity of a key's secrets (a delete, a disable, the end
-- of a grace period), written in the change's transaction; its id travels in the notice.
CREATE TABLE key_revocations (
    id         BIGSERIAL PRIMARY KEY,
    api_key_id BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX key_revocations_api_key ON key_revocations (api_key_id, id);
CREATE INDEX key_revocations_revoked_at ON key_revocations (revoked_at);

-- Each instance's acknowledgement that it applied a revocation: when it did, by its own clock.
CREATE TABLE key_revocation_acks (
    revocation_id   BIGINT NOT NULL,
    instance_id     TEXT NOT NULL,
    acknowledged_at BIGINT NOT NULL,
    PRIMARY KEY (revocation_id, instance_id)
);

-- +goose Down
DROP TABLE key_revocation_acks;
DROP TABLE key_revocations;
DROP TABLE instances;
