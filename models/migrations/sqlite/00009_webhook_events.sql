-- +goose Up
-- The outbox of webhook events. An event is written in the transaction of the change it
-- announces (a key deleted, disabled…), or by the expiry scheduler, and sent afterwards by
-- whichever instance claims it first, so that no request waits for the receiver and no event is
-- lost to a crash. id is the event's webhook-id, unique: the scheduler's ids are made from the
-- key, the notice and the expiry, so that several instances queue each notice once. body is the
-- JSON sent, exactly as signed. attempts counts the attempts begun; a claim moves
-- next_attempt_at ahead by a lease, so an instance that dies mid-attempt leaves the event to
-- be sent again. delivered_at or given_up_at ends it; ended events are pruned later.
CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    next_attempt_at DATETIME NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    DATETIME,
    given_up_at     DATETIME
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at, id)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX webhook_events_created_at ON webhook_events (created_at);

-- +goose Down
DROP TABLE webhook_events;
