-- +goose Up
-- The secret hashes a revocation ended, space-separated, so that an instance that did not hear
-- the announcement can still apply it: on SQLite, the serving process polls for revocations
-- that another process (the command line) made.
ALTER TABLE key_revocations ADD COLUMN secret_hashes TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE key_revocations DROP COLUMN secret_hashes;
