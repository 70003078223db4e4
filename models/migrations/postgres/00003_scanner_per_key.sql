-- +goose Up
-- A scanner is known by its name, its host and the key it checks in with. A check-in under the
-- same name and host with another key makes a row of its own instead of taking over the row
-- of the scanner that uses the first key; a rotated key shows as the old row going down while
-- the new one is up.
ALTER TABLE scanners DROP CONSTRAINT scanners_name_host_key;
ALTER TABLE scanners ADD CONSTRAINT scanners_name_host_api_key_id_key UNIQUE (name, host, api_key_id);

-- +goose Down
-- Back to one row per name and host: the most recent check-in of each is kept.
DELETE FROM scanners s USING scanners t
    WHERE t.name = s.name AND t.host = s.host
    AND (t.last_check_in_at, t.id) > (s.last_check_in_at, s.id);
ALTER TABLE scanners DROP CONSTRAINT scanners_name_host_api_key_id_key;
ALTER TABLE scanners ADD CONSTRAINT scanners_name_host_key UNIQUE (name, host);
