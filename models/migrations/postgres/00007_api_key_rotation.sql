-- +goose Up
-- A rotated key keeps its row (id, public id, name, scope, scanners, history) and takes a new
-- secret. The secret it had before works on during its grace, under previous_secret_hash, until
-- previous_ends_at (the grace's end, or the 7-day cap of an until-unused grace, and never after
-- the key's expiry before the rotation); with previous_until_unused, also only until it has
-- gone unused for an hour since the later of rotated_at and previous_last_used_at. Ending the
-- grace clears the previous_ columns. last_used_at stays the key's latest use by either
-- secret; secret_last_used_at is the current secret's own.
ALTER TABLE api_keys ADD COLUMN rotated_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN secret_last_used_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE api_keys ADD COLUMN previous_hint TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN previous_ends_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN previous_until_unused BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN previous_last_used_at TIMESTAMPTZ;
UPDATE api_keys SET secret_last_used_at = last_used_at;
-- Verification looks a secret up by either hash.
CREATE UNIQUE INDEX api_keys_previous_secret_hash ON api_keys (previous_secret_hash);
-- The keys whose previous secret still works, for the sweep that ends their graces.
CREATE INDEX api_keys_rotating ON api_keys (previous_ends_at) WHERE previous_secret_hash IS NOT NULL;

-- +goose Down
DROP INDEX api_keys_rotating;
DROP INDEX api_keys_previous_secret_hash;
ALTER TABLE api_keys DROP COLUMN previous_last_used_at;
ALTER TABLE api_keys DROP COLUMN previous_until_unused;
ALTER TABLE api_keys DROP COLUMN previous_ends_at;
ALTER TABLE api_keys DROP COLUMN previous_hint;
ALTER TABLE api_keys DROP COLUMN previous_secret_hash;
ALTER TABLE api_keys DROP COLUMN secret_last_used_at;
ALTER TABLE api_keys DROP COLUMN rotated_at;
