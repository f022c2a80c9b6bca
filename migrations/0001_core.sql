-- The core: reference data, tokens, incidents and their append-only history.
-- Geometry is kept as GeoJSON; the spatial work is done by shapely in every server process.

CREATE TABLE squads (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('centre', 'street', 'specialist')),
    parent_id   text,
    skills      text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE zones (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid', 'special')),
    parent_id   text,
    squad_id    text,
    properties  jsonb NOT NULL DEFAULT '{}',
    geometry    jsonb NOT NULL
);

-- One row per replacement of the zone set; processes reload when the newest version changes.
CREATE TABLE zone_versions (
    version     bigserial PRIMARY KEY,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    loaded_by   text NOT NULL,
    features    integer NOT NULL
);

CREATE TABLE categories (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    spec        jsonb NOT NULL
);

CREATE TABLE tokens (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'operator', 'squad', 'device', 'auditor')),
    squad_id    text,
    secret_hash bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    expires_at  timestamptz,
    revoked_at  timestamptz
);

CREATE SEQUENCE incident_no;

CREATE TABLE incidents (
    id                text PRIMARY KEY,
    source            text NOT NULL,
    external_id       text,
    category          text NOT NULL,
    state             text NOT NULL,
    priority          text NOT NULL,
    lon               double precision NOT NULL,
    lat               double precision NOT NULL,
    zone_ids          text[] NOT NULL DEFAULT '{}',
    squad_id          text,
    support_squad_ids text[] NOT NULL DEFAULT '{}',
    received_at       timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deadline          timestamptz,
    duplicate_of      text,
    version           integer NOT NULL DEFAULT 1,
    -- the whole incident as the API shows it; the columns above are what queries filter on
    doc               jsonb NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX incidents_state ON incidents (state, received_at);
CREATE INDEX incidents_squad ON incidents (squad_id, state);
CREATE INDEX incidents_zones ON incidents USING gin (zone_ids);
CREATE INDEX incidents_received ON incidents (received_at);

-- The history is the truth: every event of every incident, numbered deployment-wide.
-- Entries are appended under a lock taken just before they are numbered, so `seq` order is
-- commit order: once seq N is visible, no smaller seq can appear later.
CREATE SEQUENCE history_seq;

CREATE TABLE history (
    seq          bigint PRIMARY KEY,
    incident_id  text NOT NULL,
    type         text NOT NULL,
    action       text,
    actor        text NOT NULL,
    actor_role   text,
    at           timestamptz NOT NULL,
    state_before text,
    state_after  text,
    detail       jsonb NOT NULL DEFAULT '{}',
    topics       text[] NOT NULL,
    event        jsonb NOT NULL
);
CREATE INDEX history_incident ON history (incident_id, seq);
CREATE INDEX history_topics ON history USING gin (topics);
CREATE INDEX history_at ON history (at);
