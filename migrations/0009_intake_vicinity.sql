-- A batch's place locks and its reads of what is near, in one call.
--
-- Intake's collation step (dispatcher/vicinity.py) took the batch's place locks, then read
-- the open incidents near its reports, then the complaints near them: three round trips,
-- each of which costs the server process more than the statement costs PostgreSQL (see
-- docs/PERFORMANCE.md). They must stay three statements: a statement's snapshot is taken
-- when it starts, so reads in the statement that waited for the locks would not see what
-- the holder committed meanwhile. A VOLATILE function takes a fresh snapshot for each of
-- its statements (READ COMMITTED), so one call does all three.
--
-- The rows come back in one set: an open incident near a report has its `doc` and no `id`;
-- a complaint has its `id`, category, point and time and no `doc`. The predicates repeat
-- the partial indexes' of 0003 word for word, so that the planner may use them.
CREATE FUNCTION intake_vicinity(
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
    SELECT DISTINCT ON (i.id) i.doc, NULL::text, NULL::text, NULL::float8, NULL::float8,
           NULL::timestamptz
    FROM incidents i
    JOIN unnest(near_x0, near_y0, near_x1, near_y1) AS b(x0, y0, x1, y1)
      ON point(i.lon, i.lat) <@ box(point(b.x0, b.y0), point(b.x1, b.y1))
    WHERE i.state NOT IN ('closed', 'rejected', 'merged');
    RETURN QUERY
    SELECT DISTINCT ON (i.id) NULL::jsonb, i.id, i.category, i.lon, i.lat, i.received_at
    FROM incidents i
    JOIN unnest(complaint_categories, complaint_x0, complaint_y0, complaint_x1, complaint_y1)
         AS b(category, x0, y0, x1, y1)
      ON point(i.lon, i.lat) <@ box(point(b.x0, b.y0), point(b.x1, b.y1))
     AND i.category = b.category
    WHERE i.source IN ('hotline', 'citizen') AND i.received_at >= complaints_since;
END;
$$;
