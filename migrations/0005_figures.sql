-- Figures (评价, CONTRACT §7) and supervision sampling (抽查).
--
-- The rates are computed from the history itself, never from counters. To make that fast
-- without touching the code that appends to the history, each history row carries, as
-- STORED generated columns, the few facts of its incident snapshot that the figures read
-- (squad, deadline, on-time flag, suspension, paused time, approved extension; and, on the
-- creation row only, source, category and zones). PostgreSQL computes them in the very
-- INSERT that appends the row, in the same transaction, so they can never drift from the
-- event. A partial covering index on `at` then lets a period's figures be read with an
-- index-only scan of the period's rows, without reading the (large) event documents.
--
-- Adding the columns rewrites the history table once (no row trigger fires on a rewrite).
-- The expressions use the path operators (#>, #>>), which do not copy the nested incident
-- document; paused time is summed only when the clock has pauses.

-- RFC 3339 text with an offset to timestamptz. The cast itself is only STABLE because it
-- would read TimeZone for text without an offset; the history always writes an offset.
CREATE FUNCTION figures_time(text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT $1::timestamptz $$;

-- Seconds the case clock was paused (挂账) up to `upto`: the sum of the closed pauses plus
-- the open one, if any, counted until `upto`.
CREATE FUNCTION figures_paused_s(pauses jsonb, upto timestamptz) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT coalesce(sum(extract(epoch FROM
               coalesce(figures_time(p->>1), upto) - figures_time(p->>0))), 0)::float8
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(pauses) = 'array' THEN pauses ELSE '[]'::jsonb END) AS p
    $$;

CREATE FUNCTION figures_texts(jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT ARRAY(SELECT jsonb_array_elements_text(
        CASE WHEN jsonb_typeof($1) = 'array' THEN $1 ELSE '[]'::jsonb END))
    $$;

-- the last element of an array (array_agg(... ORDER BY seq) gives the latest value)
CREATE FUNCTION figures_last(anyarray) RETURNS anyelement
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT $1[array_upper($1, 1)] $$;

ALTER TABLE history
    ADD COLUMN fig_squad text GENERATED ALWAYS AS (
        CASE WHEN type IN ('incident.created', 'incident.updated')
             THEN event #>> '{incident,squad_id}' END) STORED,
    ADD COLUMN fig_deadline timestamptz GENERATED ALWAYS AS (
        CASE WHEN type IN ('incident.created', 'incident.updated')
             THEN figures_time(event #>> '{incident,deadline}') END) STORED,
    ADD COLUMN fig_on_time boolean GENERATED ALWAYS AS (
        CASE WHEN type IN ('incident.created', 'incident.updated')
             THEN (event #>> '{incident,on_time}')::boolean END) STORED,
    ADD COLUMN fig_suspended boolean GENERATED ALWAYS AS (
        CASE WHEN type IN ('incident.created', 'incident.updated')
             THEN coalesce((event #>> '{incident,suspended}')::boolean, false) END) STORED,
    ADD COLUMN fig_paused_s double precision GENERATED ALWAYS AS (
        CASE WHEN type = 'incident.updated' AND action IN ('accept', 'resolve')
             THEN CASE WHEN coalesce(jsonb_typeof(event #> '{incident,clock,pauses}'), '')
                                <> 'array' THEN 0
                       WHEN jsonb_array_length(event #> '{incident,clock,pauses}') = 0 THEN 0
                       ELSE figures_paused_s(event #> '{incident,clock,pauses}', at) END
             END) STORED,
    ADD COLUMN fig_extended boolean GENERATED ALWAYS AS (
        type = 'incident.updated' AND action = 'approve_extension'
        AND coalesce((detail->>'approved')::boolean, false)) STORED,
    ADD COLUMN fig_source text GENERATED ALWAYS AS (
        CASE WHEN type = 'incident.created' THEN event #>> '{incident,source}' END) STORED,
    ADD COLUMN fig_category text GENERATED ALWAYS AS (
        CASE WHEN type = 'incident.created' THEN event #>> '{incident,category}' END) STORED,
    ADD COLUMN fig_zone_ids text[] GENERATED ALWAYS AS (
        CASE WHEN type = 'incident.created'
             THEN figures_texts(event #> '{incident,zone_ids}') END) STORED;

-- A period's rows, index-only. The predicate is repeated word for word by
-- dispatcher/figures_store.py.
CREATE INDEX history_figures ON history (at)
    INCLUDE (incident_id, seq, type, action, state_before, state_after, fig_squad,
             fig_deadline, fig_on_time, fig_suspended, fig_paused_s, fig_extended,
             fig_source, fig_category, fig_zone_ids)
    WHERE type IN ('incident.created', 'incident.updated');

-- Supervision sampling (抽查): each draw keeps its seed and parameters, so that drawing
-- again from the same population gives the same incidents; each item keeps the outcome of
-- its check and the history entry that recorded it.
CREATE TABLE samples (
    id           bigserial PRIMARY KEY,
    drawn_at     timestamptz NOT NULL,
    drawn_by     text NOT NULL,
    period_from  timestamptz NOT NULL,
    period_to    timestamptz NOT NULL,
    seed         bigint NOT NULL,
    -- [{"name", "rate", "sources"?, "outcomes"?, "population", "drawn", "digest"}]
    strata       jsonb NOT NULL,
    note         text NOT NULL DEFAULT ''
);

CREATE TABLE sample_items (
    sample_id    bigint NOT NULL REFERENCES samples (id),
    incident_id  text NOT NULL,
    strata       text[] NOT NULL,
    result       text CHECK (result IN ('satisfied', 'not_satisfied', 'rework_ordered')),
    note         text,
    checked_at   timestamptz,
    checked_by   text,
    seq          bigint,
    PRIMARY KEY (sample_id, incident_id)
);
CREATE INDEX sample_items_incident ON sample_items (incident_id);
