-- +goose Up
-- The sign-in throttle's token buckets, kept in the database so that every instance shares them
-- and no flood can fill an instance's memory. A bucket is one row: full_at is when it holds all
-- its tokens again, in Unix milliseconds (an integer compares and adds the same way on both
-- databases). Each attempt moves it a minute later; it is refused while that would pass the
-- bucket's capacity. A row whose full_at has passed says nothing a missing row would not, and
-- is pruned.
CREATE TABLE sign_in_buckets (
    key     TEXT PRIMARY KEY,
    full_at BIGINT NOT NULL
);
CREATE INDEX sign_in_buckets_full_at ON sign_in_buckets (full_at);

-- +goose Down
DROP TABLE sign_in_buckets;
