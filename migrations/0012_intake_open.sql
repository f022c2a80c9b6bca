-- A batch's replays and its new incidents' numbers, in one call.
--
-- Intake's transaction read the incidents already stored under the batch's (source,
-- external_id) keys, then took a number for each report that had none: two round trips,
-- each of which costs the server process more than the statement costs PostgreSQL (see
-- docs/PERFORMANCE.md). Here one statement answers a row per report, in the batch's order
-- (`n`): the stored incident of its key, or, when there is none (or no key), a new number.
-- One statement, one snapshot: a report is either a replay or numbered, never neither.
-- The lookup is a LATERAL probe of the (source, external_id) index per report.
CREATE FUNCTION intake_open(sources text[], external_ids text[])
RETURNS TABLE (n bigint, doc jsonb, number bigint)
LANGUAGE sql VOLATILE AS $$
    SELECT k.n, s.doc, CASE WHEN s.doc IS NULL THEN nextval('incident_no') END
    FROM unnest(sources, external_ids) WITH ORDINALITY AS k(source, external_id, n)
    LEFT JOIN LATERAL (
        SELECT i.doc FROM incidents i
        WHERE i.source = k.source AND i.external_id = k.external_id
    ) AS s ON true
    ORDER BY k.n
$$;
