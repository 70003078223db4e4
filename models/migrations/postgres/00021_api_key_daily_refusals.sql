-- +goose Up
-- Requests refused each day with a key known to be the one presented (expired, disabled, or of
-- another scope than the route admits), beside those it authenticated, for the key page's
-- chart. Instances add what they counted in memory with the same batch as the requests.
ALTER TABLE api_key_daily_uses ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE api_key_daily_uses DROP COLUMN refused;
