-- Appending to the history in one call: lock, number, hash, insert.
--
-- The history lock is held from the moment an appender takes it until its transaction
-- commits, and every appender waits for it, so the time it is held bounds how many batches
-- commit per second. Until now the holder took the lock, read the chain's head and its seqs
-- (one round trip), hashed the entries in the server process, inserted them (a second round
-- trip) and committed (a third). Under intake's load the server process answers each round
-- trip only when its event loop comes round, several milliseconds each, all of it with the
-- lock held. Now one call takes the lock, numbers the entries, hashes them onto the chain
-- and inserts them; the commit follows. The server sends each entry's canonical text
-- around its seq (`dispatcher.audit.around_seq`): the text hashed is
-- '[' || seq || ',' || middle || seq || tail, the same text `dispatcher.audit.digest`
-- hashes when the chain is checked. Each event is sent without its seq, which leads the
-- stored text: '{"seq":' || seq || ',' || rest.
DROP FUNCTION history_lock_head(integer);

CREATE FUNCTION history_append(
    incident_ids text[],
    types text[],
    actions text[],
    actors text[],
    actor_roles text[],
    ats timestamptz[],
    states_before text[],
    states_after text[],
    details jsonb[],
    topics jsonb[],
    events text[],    -- each event's JSON text after '{"seq":N,'
    middles text[],
    tails text[]
) RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    entries integer := cardinality(incident_ids);
    seqs bigint[];
    prevs bytea[] := '{}';
    hashes bytea[] := '{}';
    prev bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(1751741300);  -- 0x68697374, "hist"
    -- a statement after the lock: its snapshot sees every entry committed before it
    prev := coalesce(
        (SELECT h.hash FROM history h ORDER BY h.seq DESC LIMIT 1),
        '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    seqs := ARRAY(SELECT nextval('history_seq') FROM generate_series(1, entries));
    FOR i IN 1 .. entries LOOP
        prevs := prevs || prev;
        prev := sha256(prev || convert_to(
            '[' || seqs[i] || ',' || middles[i] || seqs[i] || tails[i], 'UTF8'));
        hashes := hashes || prev;
    END LOOP;
    INSERT INTO history (seq, incident_id, type, action, actor, actor_role, at, state_before,
                         state_after, detail, topics, event, prev_hash, hash)
    SELECT e.seq, e.incident_id, e.type, e.action, e.actor, e.actor_role, e.at,
           e.state_before, e.state_after, e.detail,
           ARRAY(SELECT jsonb_array_elements_text(e.topics)),
           ('{"seq":' || e.seq || ',' || e.event)::jsonb, e.prev_hash, e.hash
    FROM unnest(seqs, incident_ids, types, actions, actors, actor_roles, ats, states_before,
                states_after, details, topics, events, prevs, hashes)
         AS e(seq, incident_id, type, action, actor, actor_role, at, state_before,
              state_after, detail, topics, event, prev_hash, hash);
    RETURN seqs;
END;
$$;
