-- +goose Up
-- A key can be paused: disabled_at is when it was disabled, NULL while it is enabled. A disabled
-- key keeps its secret, its name and its history, and works again once enabled. The list's
-- "disabled" filter reads the few disabled keys from an index of their own; its "expired" and
-- "expires-soon" filters, and the banner counting keys about to expire, read the enabled keys
-- that expire by date from another.
ALTER TABLE api_keys ADD COLUMN disabled_at TIMESTAMPTZ;
CREATE INDEX api_keys_disabled ON api_keys (disabled_at) WHERE disabled_at IS NOT NULL;
CREATE INDEX api_keys_enabled_expiry ON api_keys (expires_at) WHERE disabled_at IS NULL AND expires_at IS NOT NULL;

-- +goose Down
DROP INDEX api_keys_enabled_expiry;
DROP INDEX api_keys_disabled;
ALTER TABLE api_keys DROP COLUMN disabled_at;
