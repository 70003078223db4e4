-- +goose Up
-- key_revocations records every change to what a key authenticates, not only those that end a
-- secret's validity, so that a serving process on SQLite, which hears no announcement from
-- another process, learns of a secret that began to work there too (its index of secret
-- hashes refuses every other secret without a query). kind is 'revoked' for a change that
-- ended a secret's validity (the proof of revocation is about these alone), 'changed' for one
-- that ended nothing but changed a secret's terms (a rotation with a grace), and 'began' for
-- one that began a secret's validity (a key created or enabled).
ALTER TABLE key_revocations ADD COLUMN kind TEXT NOT NULL DEFAULT 'revoked';

-- +goose Down
ALTER TABLE key_revocations DROP COLUMN kind;
