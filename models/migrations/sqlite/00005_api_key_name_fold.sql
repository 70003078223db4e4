-- +goose Up
-- Key names are unique as they read, not as they are spelled: name_fold is the name in
-- compatibility normal form, case-folded, with runs of spaces made one (models.apiKeyNameFold).
-- SQL cannot compute it: the store fills it in for existing keys after migrating, oldest key
-- first, and leaves it NULL for a key whose name an older key already folds to.
ALTER TABLE api_keys ADD COLUMN name_fold TEXT;
CREATE UNIQUE INDEX api_keys_name_fold ON api_keys (name_fold);

-- +goose Down
DROP INDEX api_keys_name_fold;
ALTER TABLE api_keys DROP COLUMN name_fold;
