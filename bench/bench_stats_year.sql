-- A year of history for bench/bench_stats.py, one month per statement.
-- One month of incidents n in [$1, $2): received evenly over the year [$3, $3 + 365 days),
-- each with the rows of its life; $4 is now (later rows are left out), $5 the first seq.
WITH i AS (
    SELECT n, received,
           to_char(received AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || lpad(n::text, 8, '0')
               AS id,
           (ARRAY['hotline','hotline','hotline','grid','grid','camera','camera','citizen',
                  'leader','media','platform','drone'])[1 + floor(r1 * 12)::int] AS source,
           (ARRAY['200504','200201','200202','200203','200501','200506','200507','100307',
                  '200101','200102','200301','200302','200401','200402','200601','200602',
                  '100101','100201','100301','100401'])[1 + floor(r2 * 20)::int] AS category,
           1 + floor(r3 * 30)::int AS street, floor(r4 * 40)::int AS grid,
           r5 < 0.03 AS merged, r5 >= 0.03 AND r5 < 0.10 AS rj,
           r6 < 0.05 AS rework, r6 >= 0.05 AND r6 < 0.08 AS extended,
           r6 >= 0.08 AND r6 < 0.11 AS returned,
           r7, r8
    FROM generate_series($1::bigint, $2::bigint - 1) AS n,
         LATERAL (SELECT $3::timestamptz
                             + (n - 1)::float8 * (interval '365 days' / $6::float8) AS received,
                         random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                         random() AS r5, random() AS r6, random() AS r7, random() AS r8) AS r
), j AS (
    SELECT i.*, source NOT IN ('hotline', 'grid', 'leader') AS manual,
           source NOT IN ('hotline', 'grid', 'leader') AND rj AS rejected,
           'sq-' || street AS squad, 'sq-' || (street % 30 + 1) AS squad2,
           received + (2 + r7 * 18) * interval '1 minute' AS t_dispatch,
           (4 + r8 * 8) * interval '1 hour' AS limit_
    FROM i
), k AS (
    SELECT j.*,
           t_dispatch + interval '20 minutes' AS t_return,
           t_dispatch + interval '35 minutes' AS t_redispatch,
           t_dispatch + (CASE WHEN returned THEN 40 ELSE 3 END + r7 * 40) * interval '1 minute'
               AS t_accept,
           (CASE WHEN manual THEN t_dispatch ELSE received END) AS t_register
    FROM j
), l AS (
    SELECT k.*,
           t_register + limit_ + CASE WHEN extended THEN interval '2 hours' ELSE interval '0' END
               AS deadline,
           t_accept + (0.5 + r8 * 7) * interval '1 hour' AS t_resolve
    FROM k
), e AS (
    SELECT l.id, l.source, l.category, l.street, l.grid, s.*,
           CASE WHEN s.state_after IN ('reported', 'merged', 'rejected') THEN NULL
                WHEN s.action = 'return' THEN NULL
                WHEN l.returned AND s.at >= l.t_redispatch THEN l.squad2 ELSE l.squad END
               AS squad_id,
           CASE WHEN s.state_after IN ('reported', 'merged', 'rejected') THEN NULL
                ELSE l.deadline END AS deadline,
           CASE WHEN s.at >= l.t_resolve THEN l.t_resolve <= l.deadline END AS on_time
    FROM l CROSS JOIN LATERAL (VALUES
        (1, 'incident.created', 'report', received, NULL,
         CASE WHEN merged THEN 'merged' WHEN manual THEN 'reported' ELSE 'dispatched' END, true),
        (2, 'dispatch.assigned', 'dispatch', received, 'registered', 'dispatched',
         NOT manual AND NOT merged),
        (3, 'incident.updated', 'reject', t_dispatch, 'reported', 'rejected',
         manual AND rejected AND NOT merged),
        (4, 'incident.updated', 'register', t_dispatch - interval '1 minute', 'reported',
         'registered', manual AND NOT rejected AND NOT merged),
        (5, 'incident.updated', 'dispatch', t_dispatch, 'registered', 'dispatched',
         manual AND NOT rejected AND NOT merged),
        (6, 'incident.updated', 'return', t_return, 'dispatched', 'returned',
         returned AND NOT rejected AND NOT merged),
        (7, 'incident.updated', 'dispatch', t_redispatch, 'returned', 'dispatched',
         returned AND NOT rejected AND NOT merged),
        (8, 'incident.updated', 'accept', t_accept, 'dispatched', 'accepted',
         NOT rejected AND NOT merged),
        (9, 'incident.updated', 'extend', t_accept + interval '10 minutes', 'accepted',
         'accepted', extended AND NOT rejected AND NOT merged),
        (10, 'incident.updated', 'approve_extension', t_accept + interval '15 minutes',
         'accepted', 'accepted', extended AND NOT rejected AND NOT merged),
        (11, 'incident.updated', 'resolve', t_resolve, 'accepted', 'resolved',
         NOT rejected AND NOT merged),
        (12, 'incident.updated', 'verify', t_resolve + interval '20 minutes', 'resolved',
         CASE WHEN rework THEN 'dispatched' ELSE 'closed' END, NOT rejected AND NOT merged),
        (13, 'incident.updated', 'accept', t_resolve + interval '50 minutes', 'dispatched',
         'accepted', rework AND NOT rejected AND NOT merged),
        (14, 'incident.updated', 'resolve', t_resolve + interval '3 hours', 'accepted',
         'resolved', rework AND NOT rejected AND NOT merged),
        (15, 'incident.updated', 'verify', t_resolve + interval '200 minutes', 'resolved',
         'closed', rework AND NOT rejected AND NOT merged)
    ) AS s(step, type, action, at, state_before, state_after, keep)
    WHERE s.keep AND s.at <= $4
), numbered AS (
    SELECT e.*, $5::bigint + row_number() OVER (ORDER BY at, id, step) AS seq FROM e
)
INSERT INTO history (seq, incident_id, type, action, actor, actor_role, at, state_before,
                     state_after, detail, topics, event)
SELECT seq, id, type, action, 'bench', 'operator', at, state_before, state_after,
       CASE WHEN action = 'approve_extension' THEN '{"approved": true}'::jsonb
            WHEN action = 'verify' THEN jsonb_build_object('passed', state_after = 'closed')
            ELSE '{}'::jsonb END,
       ARRAY['all', 'incident:' || id, 'zone:st-' || street]
           || CASE WHEN squad_id IS NULL THEN ARRAY[]::text[] ELSE ARRAY['squad:' || squad_id] END,
       jsonb_build_object(
           'seq', seq, 'type', type,
           'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
           'incident', jsonb_build_object(
               'id', id, 'source', source, 'category', category, 'state', state_after,
               'squad_id', squad_id, 'zone_ids', jsonb_build_array('d', 'st-' || street,
                                                                   'g-' || street || '-' || grid),
               'deadline', to_char(deadline AT TIME ZONE 'UTC',
                                   'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
               'on_time', on_time, 'suspended', false,
               'clock', jsonb_build_object('pauses', '[]'::jsonb),
               'description', '店外经营，占用人行道摆放商品，影响行人通行，请尽快处理。',
               'address', '某某路' || (seq % 977) || '号'))
FROM numbered
