-- +goose Up
-- A scanner is known by its name, its host and the key it checks in with. A check-in under the
-- same name and host with another key makes a row of its own instead of taking over the row
-- of the scanner that uses the first key; a rotated key shows as the old row going down while
-- the new one is up. SQLite cannot drop a table's UNIQUE constraint, so the table is rebuilt.
CREATE TABLE scanners_by_key (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL,
    host              TEXT NOT NULL,
    version           TEXT NOT NULL,
    api_key_id        INTEGER REFERENCES api_keys(id) ON DELETE SET NULL,
    first_check_in_at DATETIME NOT NULL,
    last_check_in_at  DATETIME NOT NULL,
    UNIQUE (name, host, api_key_id)
);
INSERT INTO scanners_by_key (id, name, host, version, api_key_id, first_check_in_at, last_check_in_at)
    SELECT id, name, host, version, api_key_id, first_check_in_at, last_check_in_at FROM scanners;
DROP TABLE scanners;
ALTER TABLE scanners_by_key RENAME TO scanners;
CREATE INDEX scanners_api_key_id ON scanners (api_key_id);
CREATE INDEX scanners_last_check_in_at ON scanners (last_check_in_at);

-- +goose Down
-- Back to one row per name and host: the most recent check-in of each is kept.
CREATE TABLE scanners_by_host (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL,
    host              TEXT NOT NULL,
    version           TEXT NOT NULL,
    api_key_id        INTEGER REFERENCES api_keys(id) ON DELETE SET NULL,
    first_check_in_at DATETIME NOT NULL,
    last_check_in_at  DATETIME NOT NULL,
    UNIQUE (name, host)
);
INSERT INTO scanners_by_host (id, name, host, version, api_key_id, first_check_in_at, last_check_in_at)
    SELECT id, name, host, version, api_key_id, first_check_in_at, last_check_in_at FROM scanners s
    WHERE NOT EXISTS (
        SELECT 1 FROM scanners t WHERE t.name = s.name AND t.host = s.host
        AND (t.last_check_in_at > s.last_check_in_at OR (t.last_check_in_at = s.last_check_in_at AND t.id > s.id))
    );
DROP TABLE scanners;
ALTER TABLE scanners_by_host RENAME TO scanners;
CREATE INDEX scanners_api_key_id ON scanners (api_key_id);
CREATE INDEX scanners_last_check_in_at ON scanners (last_check_in_at);
