-- The outbox trigger looks its work orders up by index, whatever the planner believes.
--
-- 0007's statement trigger joined the transition table `added` to `incidents`. PL/pgSQL
-- keeps the plan, and the planner, knowing nothing of a transition table's size and seeing
-- few hotline incidents when the plan was made, put `incidents` outside: every statement
-- read every hotline incident and compared it with every new history row (auto_explain
-- under intake's load: 288 hotline incidents × 25 rows, 3-5 ms a statement, under the history
-- lock). The cost grew with the table, without bound.
--
-- Here each qualifying new row looks up its own incident (primary key) and the records
-- merged into it (`incidents_duplicate_of`) in a LATERAL subquery, which runs once per outer
-- row. Its OFFSET 0 keeps the test on `source` outside, so that no stale estimate of how
-- many hotline incidents there are can pick `source`'s index over those two: the work is a
-- few index probes per new row, however large the table.
CREATE OR REPLACE FUNCTION outbox_enqueue_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (incident_id, seq)
    SELECT owed.id, n.seq
    FROM added n
    CROSS JOIN LATERAL (
        -- dispatch.assigned repeats, for the squad's topic, a change already in the history
        SELECT i.id, i.source FROM incidents i WHERE i.id = n.incident_id
        UNION ALL
        SELECT i.id, i.source FROM incidents i WHERE i.duplicate_of = n.incident_id
        OFFSET 0
    ) AS owed
    WHERE n.type <> 'dispatch.assigned' AND n.state_before IS DISTINCT FROM n.state_after
      AND owed.source = 'hotline'
    ORDER BY n.seq, owed.id
    ON CONFLICT (incident_id, seq) DO NOTHING;
    RETURN NULL;
END;
$$;
