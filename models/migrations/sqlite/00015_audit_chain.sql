-- +goose Up
-- The audit log becomes a chain: each event records its position (chain_seq: 1, 2, 3… in the
-- order of commits, whatever its id), the link of the event before it (chain_prev), the id of
-- the key that links it (chain_key; empty for an unkeyed SHA-256 link) and its own link
-- (chain_link): an HMAC-SHA256, under a key the database never holds, of every field it stores
-- and the link before it. Links are hex. Events recorded before this migration stay outside
-- the chain (chain_seq NULL); the first event linked then names them (audit.chain_started).
ALTER TABLE audit_events ADD COLUMN chain_seq BIGINT;
ALTER TABLE audit_events ADD COLUMN chain_prev TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN chain_key TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN chain_link TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX audit_events_chain ON audit_events (chain_seq);
CREATE INDEX audit_events_unchained ON audit_events (id) WHERE chain_seq IS NULL;

-- The chain's head: the position and link of the newest event, and the key that linked it.
-- Every transaction that records events reads it FOR UPDATE just before it commits, so events
-- are linked in the order their transactions commit. It is a convenience, not a proof: the
-- verification trusts the events' links, and reports a head that the events do not reach.
-- legacy_events and legacy_last_id count the events recorded before the chain.
CREATE TABLE audit_chain (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    seq            BIGINT NOT NULL,
    link           TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    legacy_events  BIGINT NOT NULL,
    legacy_last_id BIGINT NOT NULL
);
INSERT INTO audit_chain (id, seq, link, key_id, legacy_events, legacy_last_id)
SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '', count(*), coalesce(max(id), 0) FROM audit_events;

-- +goose Down
DROP TABLE audit_chain;
DROP INDEX audit_events_unchained;
DROP INDEX audit_events_chain;
ALTER TABLE audit_events DROP COLUMN chain_link;
ALTER TABLE audit_events DROP COLUMN chain_key;
ALTER TABLE audit_events DROP COLUMN chain_prev;
ALTER TABLE audit_events DROP COLUMN chain_seq;
