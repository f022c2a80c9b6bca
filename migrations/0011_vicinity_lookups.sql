-- Intake's reads of what is near probe the place indexes once per box.
--
-- 0009's reads joined `incidents` to the boxes. With the statistics of a young table the
-- planner read the complaints one way, hash-joined on category, and only then tested the
-- boxes (auto_explain under intake's load: every complaint of the 30-day window, 561 and
-- growing, for a batch of 9 boxes). Here each box probes the place index in a LATERAL
-- subquery; its OFFSET 0 keeps the other tests (category, time, state) outside, so that the
-- subquery's only indexable test is the place, as in the partial indexes of 0003, whose
-- predicates are repeated word for word. What a batch reads grows with how crowded its
-- places are, not with the table.
CREATE OR REPLACE FUNCTION intake_vicinity(
    lock_space integer,
    lock_keys integer[],      -- sorted: the locks are taken in this order
    near_x0 float8[], near_y0 float8[], near_x1 float8[], near_y1 float8[],
    complaint_categories text[],
    complaint_x0 float8[], complaint_y0 float8[], complaint_x1 float8[], complaint_y1 float8[],
    complaints_since timestamptz
) RETURNS TABLE (doc jsonb, id text, category text, lon float8, lat float8,
                 received_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM count(pg_advisory_xact_lock(lock_space, k)) FROM unnest(lock_keys) AS k;
    RETURN QUERY
    SELECT DISTINCT ON (o.id) o.doc, NULL::text, NULL::text, NULL::float8, NULL::float8,
           NULL::timestamptz
    FROM unnest(near_x0, near_y0, near_x1, near_y1) AS b(x0, y0, x1, y1)
    CROSS JOIN LATERAL (
        SELECT i.id, i.doc FROM incidents i
        WHERE point(i.lon, i.lat) <@ box(point(b.x0, b.y0), point(b.x1, b.y1))
          AND i.state NOT IN ('closed', 'rejected', 'merged')
        OFFSET 0
    ) AS o
    ORDER BY o.id;
    RETURN QUERY
    SELECT DISTINCT ON (c.id) NULL::jsonb, c.id, c.category, c.lon, c.lat, c.received_at
    FROM unnest(complaint_categories, complaint_x0, complaint_y0, complaint_x1, complaint_y1)
         AS b(category, x0, y0, x1, y1)
    CROSS JOIN LATERAL (
        SELECT i.id, i.category, i.lon, i.lat, i.received_at FROM incidents i
        WHERE point(i.lon, i.lat) <@ box(point(b.x0, b.y0), point(b.x1, b.y1))
          AND i.source IN ('hotline', 'citizen')
        OFFSET 0
    ) AS c
    WHERE c.category = b.category AND c.received_at >= complaints_since
    ORDER BY c.id;
END;
$$;
