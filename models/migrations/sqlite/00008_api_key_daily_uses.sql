-- +goose Up
-- Requests each key authenticated per day, for the key page's chart of the last 30 days. A
-- day is counted in UTC, as days since 1970-01-01 (an integer compares and adds the same way
-- on both databases). Instances add what they counted in memory to the day's row with each
-- batch of uses; rows older than the chart shows are pruned a few at a time.
CREATE TABLE api_key_daily_uses (
    api_key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    unix_day   INTEGER NOT NULL,
    requests   BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, unix_day)
);
CREATE INDEX api_key_daily_uses_unix_day ON api_key_daily_uses (unix_day);

-- +goose Down
DROP TABLE api_key_daily_uses;
