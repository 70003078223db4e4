-- +goose Up
-- An API key's description says what the key is for, beyond its name: who asked for it, which
-- service uses it. Optional (empty when none), set at creation and editable from the key page.
ALTER TABLE api_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN description;
