-- +goose Up
-- The retention the database itself enforces, in microseconds (400 days until Keysmith stores
-- KEYSMITH_AUDIT_RETENTION at start or with `keysmith migrate`).
CREATE TABLE audit_retention (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    micros BIGINT NOT NULL CHECK (micros >= 86400000000)
);
INSERT INTO audit_retention (id, micros) VALUES (1, 34560000000000);

-- Even the retention job deletes no event younger than the retention.
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_young_delete BEFORE DELETE ON audit_events
WHEN OLD.at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000000 - (SELECT micros FROM audit_retention)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: DELETE of an event younger than the retention refused');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_events_no_young_delete;
DROP TABLE audit_retention;
