-- Supervision items (督办单) as records of their own: a leader's instruction, a media exposure,
-- an inspection's referral, a petition, a deputies' proposal, a matter assigned from above or
-- the centre's own; the incidents they cover, the tier (squad) that must answer, a deadline on
-- the working calendar, replies and their reviews, closure, and three-colour warnings.
--
-- The row is a projection: every step (opened, warned, overdue, replied, returned, accepted,
-- closed) is an entry of the hash-chained history whose subject (history.incident_id) is the
-- item's id, appended in the same transaction (dispatcher/core/supervision.py). Item ids start
-- with 'DB' (督办) and incident ids with a digit, so the two never meet in that column.

CREATE SEQUENCE supervision_item_no;

CREATE TABLE supervision_items (
    id              text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN (
                        'leader_instruction', 'media', 'environmental_inspection', 'petition',
                        'deputies_proposal', 'assigned_by_superior', 'internal')),
    doc_no          text NOT NULL DEFAULT '',       -- the source document's number (文号)
    doc_text        text NOT NULL,                  -- what the document says
    title           text NOT NULL DEFAULT '',
    incident_ids    text[] NOT NULL DEFAULT '{}',
    tier_id         text,                           -- the squad that must answer
    state           text NOT NULL CHECK (state IN (
                        'open', 'replied', 'returned', 'accepted', 'closed')),
    colour          text NOT NULL CHECK (colour IN ('green', 'yellow', 'red')),
    opened_at       timestamptz NOT NULL,
    opened_by       text NOT NULL,
    opened_by_name  text NOT NULL,
    deadline        timestamptz NOT NULL,
    yellow_at       timestamptz NOT NULL,
    -- the next warning owed (yellow_at, then deadline) while a reply is owed; NULL otherwise.
    -- The warning loop of every process takes due rows with FOR UPDATE SKIP LOCKED.
    due_at          timestamptz,
    escalated_to    text[] NOT NULL DEFAULT '{}',
    round           integer NOT NULL DEFAULT 0,     -- replies given so far
    closed_at       timestamptz,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1
);
CREATE INDEX supervision_items_due ON supervision_items (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX supervision_items_queue ON supervision_items (state, deadline);
CREATE INDEX supervision_items_tier ON supervision_items (tier_id, state, deadline);
CREATE INDEX supervision_items_incidents ON supervision_items USING gin (incident_ids);

-- Each reply of the answering tier (round 1, 2, ...) and the centre's review of it.
CREATE TABLE supervision_replies (
    item_id           text NOT NULL REFERENCES supervision_items (id),
    round             integer NOT NULL CHECK (round > 0),
    text              text NOT NULL,
    attachments       jsonb NOT NULL DEFAULT '[]',
    replied_at        timestamptz NOT NULL,
    replied_by        text NOT NULL,
    replied_by_name   text NOT NULL,
    verdict           text CHECK (verdict IN ('accepted', 'returned')),
    reason            text,
    reviewed_at       timestamptz,
    reviewed_by       text,
    reviewed_by_name  text,
    PRIMARY KEY (item_id, round)
);
