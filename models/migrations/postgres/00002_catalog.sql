-- +goose Up
-- Catalog items, written through the catalog API by people's scripts and by scanners. The key
-- that last changed an item is kept as its public id and name, not a reference, so the record
-- of who changed what survives the key's deletion.
CREATE TABLE catalog_items (
    id                  BIGSERIAL PRIMARY KEY,
    type                TEXT NOT NULL,
    name                TEXT NOT NULL,
    name_lower          TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    properties          TEXT NOT NULL DEFAULT '{}',
    external_key        TEXT UNIQUE,
    changed_by_key_id   TEXT NOT NULL,
    changed_by_key_name TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX catalog_items_name_lower ON catalog_items (name_lower);
CREATE INDEX catalog_items_type ON catalog_items (type);

-- The metamodel: one JSON document describing the item types and their properties.
CREATE TABLE metamodel (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    document            TEXT NOT NULL,
    updated_at          TIMESTAMPTZ,
    changed_by_key_id   TEXT NOT NULL DEFAULT ''
);
INSERT INTO metamodel (id, document) VALUES (1, '{"item_types":[{"name":"dataset","label":"Dataset","properties":[{"name":"owner","label":"Owner","type":"string","required":false},{"name":"row_count","label":"Row count","type":"number","required":false}]},{"name":"field","label":"Field","properties":[{"name":"data_type","label":"Data type","type":"string","required":false},{"name":"nullable","label":"Nullable","type":"boolean","required":false}]},{"name":"data-process","label":"Data process","properties":[]},{"name":"visualization","label":"Visualization","properties":[]}]}');

-- Scanners that checked in with a key. A scanner outlives its key (api_key_id becomes NULL),
-- so the Scanners page can show that it lost its key.
CREATE TABLE scanners (
    id                BIGSERIAL PRIMARY KEY,
    name              TEXT NOT NULL,
    host              TEXT NOT NULL,
    version           TEXT NOT NULL,
    api_key_id        BIGINT REFERENCES api_keys(id) ON DELETE SET NULL,
    first_check_in_at TIMESTAMPTZ NOT NULL,
    last_check_in_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (name, host)
);
CREATE INDEX scanners_api_key_id ON scanners (api_key_id);
CREATE INDEX scanners_last_check_in_at ON scanners (last_check_in_at);

-- +goose Down
DROP TABLE scanners;
DROP TABLE metamodel;
DROP TABLE catalog_items;
