-- The life cycle: timers that survive restarts, supervision records (督办), and a history that
-- can be proven complete: append-only, each entry hashed with the previous entry's hash.

CREATE TABLE timers (
    incident_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('case_warning', 'case_overdue', 'stage_overdue')),
    due_at       timestamptz NOT NULL,
    fired_at     timestamptz,
    PRIMARY KEY (incident_id, kind)
);
-- the timer loop takes due rows with FOR UPDATE SKIP LOCKED, earliest first
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;

CREATE TABLE supervisions (
    id           bigserial PRIMARY KEY,
    incident_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('overdue', 'manual', 'repeat')),
    opened_at    timestamptz NOT NULL,
    opened_by    text NOT NULL,
    note         text NOT NULL DEFAULT '',
    notified     text[] NOT NULL DEFAULT '{}',
    closed_at    timestamptz
);
CREATE INDEX supervisions_open ON supervisions (incident_id) WHERE closed_at IS NULL;

ALTER TABLE history ADD COLUMN prev_hash bytea;
ALTER TABLE history ADD COLUMN hash bytea;

CREATE FUNCTION history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER history_no_update BEFORE UPDATE OR DELETE ON history
    FOR EACH ROW EXECUTE FUNCTION history_is_append_only();
CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history
    FOR EACH STATEMENT EXECUTE FUNCTION history_is_append_only();
