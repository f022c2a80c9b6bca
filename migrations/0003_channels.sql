-- Every channel in: duplicates and repeat complaints found by place, CAP alerts kept for
-- replays, updates and cancels, and the outbox of status updates to the 12345 hotline.

-- Open incidents by place: intake reads those around each report (dedup, near-misses). The
-- predicate is repeated word for word by the queries in dispatcher/vicinity.py.
CREATE INDEX incidents_open_place ON incidents USING gist (point(lon, lat))
    WHERE state NOT IN ('closed', 'rejected', 'merged');
-- Complaints by place, whatever their state: repeat complaints count them over 30 days.
CREATE INDEX incidents_complaint_place ON incidents USING gist (point(lon, lat))
    WHERE source IN ('hotline', 'citizen');
-- The records merged into an incident (duplicates, 并案), for their list and the outbox.
CREATE INDEX incidents_duplicate_of ON incidents (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- One row per CAP alert message taken (OASIS CAP 1.2): a replay of the same sender and
-- identifier answers the same incidents; an Update or Cancel finds the incidents of the
-- messages it references here.
CREATE TABLE cap_alerts (
    sender       text NOT NULL,
    identifier   text NOT NULL,
    sent         timestamptz NOT NULL,
    msg_type     text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel', 'Ack', 'Error')),
    status       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    received_by  text NOT NULL,
    incident_ids text[] NOT NULL DEFAULT '{}',
    -- what was answered, so that a replay answers exactly the same
    answer       jsonb NOT NULL,
    PRIMARY KEY (sender, identifier)
);

-- Status updates owed to the hotline platform: one row per state change of a hotline work
-- order (and of the incident a work order was merged into), written by a trigger in the
-- transaction that appends the change to the history, so that none is ever missed. The
-- outbox loop of every server process delivers them, in seq order per work order, retrying
-- with back-off until the platform takes them.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    incident_id     text NOT NULL,          -- the work order the update is about
    seq             bigint NOT NULL,        -- the history entry that changed its state
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,            -- a process is delivering it until then
    delivered_at    timestamptz,
    last_error      text,
    UNIQUE (incident_id, seq)
);
CREATE INDEX outbox_pending ON outbox (incident_id, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

CREATE FUNCTION outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (incident_id, seq)
    SELECT i.id, NEW.seq FROM incidents i
    WHERE (i.id = NEW.incident_id OR i.duplicate_of = NEW.incident_id) AND i.source = 'hotline'
    ON CONFLICT (incident_id, seq) DO NOTHING;
    RETURN NULL;
END;
$$;
-- dispatch.assigned repeats, for the squad's topic, a change already in the history
CREATE TRIGGER history_outbox AFTER INSERT ON history FOR EACH ROW
    WHEN (NEW.type <> 'dispatch.assigned' AND NEW.state_before IS DISTINCT FROM NEW.state_after)
    EXECUTE FUNCTION outbox_enqueue();
