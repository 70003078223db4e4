-- +goose Up
-- Users are administered from the console. An invited user has no password and no
-- activated_at until they use their one-time link; users made before are taken as activated.
-- last_sign_in_at is set when a session starts for the user.
ALTER TABLE users ADD COLUMN activated_at DATETIME;
ALTER TABLE users ADD COLUMN last_sign_in_at DATETIME;
UPDATE users SET activated_at = created_at;

-- Where a session was started from, for its owner's list of their sessions.
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

-- The one-time link with which a user chooses their password, after an invitation or a reset:
-- at most one per user (a new link replaces the one before), stored as a SHA-256 of its token,
-- deleted once used.
CREATE TABLE user_links (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE user_links;
ALTER TABLE sessions DROP COLUMN user_agent;
ALTER TABLE sessions DROP COLUMN address;
ALTER TABLE users DROP COLUMN last_sign_in_at;
ALTER TABLE users DROP COLUMN activated_at;
