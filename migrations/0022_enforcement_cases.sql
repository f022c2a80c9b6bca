-- Enforcement cases (行政处罚案件) as records of their own: opened from a 案源 (an incident, an
-- inspection task, a camera's detection), a number in the bureau's format, the procedure, the
-- party, the officers, the steps 立案 … 结案 with their days, two legal clocks (立案, 结案) in
-- three colours, and their files (卷宗) kept with the SHA-256 of their bytes.
--
-- The row is a projection: every step is an entry of the hash-chained history whose subject
-- (history.incident_id) is the case's id, appended in the same transaction
-- (dispatcher/core/enforcement.py). Case ids start with 'AJ' (案件), incident ids with a digit
-- and supervision items with 'DB', so they never meet in that column. ``doc`` holds the whole
-- case (the party's identity number unmasked); the columns beside it are what is queried.

CREATE SEQUENCE enforcement_case_no;

-- the serial of a case number, counted from 1 each year (…罚〔2026〕1号)
CREATE TABLE enforcement_case_numbers (
    year    integer PRIMARY KEY,
    last    integer NOT NULL
);

CREATE TABLE enforcement_cases (
    id              text PRIMARY KEY,
    number          text NOT NULL UNIQUE,
    procedure       text NOT NULL CHECK (procedure IN ('summary', 'general')),
    state           text NOT NULL CHECK (state IN (
                        'pending', 'filed', 'investigated', 'notified', 'decided', 'served',
                        'executed', 'closed', 'correcting')),
    colour          text NOT NULL CHECK (colour IN ('green', 'yellow', 'red')),
    source_kind     text NOT NULL CHECK (source_kind IN ('incident', 'inspection', 'camera')),
    source_ref      text NOT NULL,
    incident_id     text,
    squad_id        text,
    opened_at       timestamptz NOT NULL,
    filed_at        timestamptz,
    decided_at      timestamptz,
    closed_at       timestamptz,
    filing_late     boolean NOT NULL DEFAULT false,
    decision_late   boolean NOT NULL DEFAULT false,
    -- the next warning owed by a running clock; the warning loop of every process takes due
    -- rows with FOR UPDATE SKIP LOCKED
    due_at          timestamptz,
    doc             jsonb NOT NULL,
    version         integer NOT NULL DEFAULT 1
);
CREATE INDEX enforcement_cases_due ON enforcement_cases (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX enforcement_cases_queue ON enforcement_cases (state, colour, opened_at);
CREATE INDEX enforcement_cases_squad ON enforcement_cases (squad_id, state);
CREATE INDEX enforcement_cases_incident ON enforcement_cases (incident_id);
CREATE INDEX enforcement_cases_closed ON enforcement_cases (closed_at) WHERE closed_at IS NOT NULL;

-- The files of a case. Uploaded first (seq NULL), then named by a step, whose history entry
-- (seq) carries the same SHA-256: ``dispatch audit verify`` hashes the file again.
CREATE TABLE enforcement_documents (
    case_id      text NOT NULL REFERENCES enforcement_cases (id),
    id           text NOT NULL,
    file         text NOT NULL,
    type         text NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name         text NOT NULL DEFAULT '',
    source_url   text,
    stored_at    timestamptz NOT NULL,
    stored_by    text NOT NULL,
    step         text,
    seq          bigint,
    PRIMARY KEY (case_id, id)
);
