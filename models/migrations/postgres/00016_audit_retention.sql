-- +goose Up
-- The retention the database itself enforces, in microseconds (400 days until Keysmith's owner
-- role stores KEYSMITH_AUDIT_RETENTION: `keysmith migrate`, or an instance started as that
-- role). The runtime role may read it, never change it, so it cannot shorten the log's life.
CREATE TABLE audit_retention (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    micros BIGINT NOT NULL CHECK (micros >= 86400000000)
);
INSERT INTO audit_retention (id, micros) VALUES (1, 34560000000000);

-- No UPDATE, no TRUNCATE, and a DELETE only of an event older than the retention, inside a
-- transaction that set keysmith.audit_prune: prune_audit_events below. Not even the owner
-- deletes a young event without first dropping or disabling the trigger, which the chain shows.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('keysmith.audit_prune', true) = 'on' THEN
        IF OLD.at < CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS BIGINT) - (SELECT micros FROM audit_retention) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: DELETE of an event younger than the retention refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

-- The retention job's one deletion, which runs with its owner's rights (SECURITY DEFINER), so
-- that the runtime role needs only EXECUTE on it: up to max_events events older than both
-- cutoff and the stored retention. First events outside the chain, then the chain's oldest
-- events, never past one younger than the cutoff, so that what is left of the chain is whole.
-- It returns how many it deleted and the position of the last chained event deleted (cut; NULL
-- when none), which the caller records in its audit.pruned event.
-- +goose StatementBegin
CREATE FUNCTION prune_audit_events(cutoff BIGINT, max_events INTEGER, OUT deleted BIGINT, OUT cut BIGINT)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    chained BIGINT;
BEGIN
    cutoff := LEAST(cutoff, CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS BIGINT) - (SELECT micros FROM audit_retention));
    max_events := LEAST(GREATEST(max_events, 1), 10000);
    PERFORM set_config('keysmith.audit_prune', 'on', true);
    DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE chain_seq IS NULL AND at < cutoff ORDER BY id LIMIT max_events);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    SELECT max(w.chain_seq) INTO cut FROM (
        SELECT o.chain_seq, max(CASE WHEN o.at < cutoff THEN 0 ELSE 1 END) OVER (ORDER BY o.chain_seq) AS young_so_far
        FROM (SELECT chain_seq, at FROM audit_events WHERE chain_seq IS NOT NULL ORDER BY chain_seq LIMIT max_events - deleted) o
    ) w WHERE w.young_so_far = 0;
    IF cut IS NOT NULL THEN
        DELETE FROM audit_events WHERE chain_seq <= cut;
        GET DIAGNOSTICS chained = ROW_COUNT;
        deleted := deleted + chained;
    END IF;
    PERFORM set_config('keysmith.audit_prune', 'off', true);
END;
$$;
-- +goose StatementEnd
-- A SECURITY DEFINER function names its schema, and searches pg_temp last, so that no role can
-- put a table of its own in its way.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION prune_audit_events(BIGINT, INTEGER) SET search_path = %I, pg_temp', current_schema());
END;
$$;
-- +goose StatementEnd
REVOKE EXECUTE ON FUNCTION prune_audit_events(BIGINT, INTEGER) FROM PUBLIC;

-- +goose Down
DROP FUNCTION prune_audit_events(BIGINT, INTEGER);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('keysmith.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
DROP TABLE audit_retention;
