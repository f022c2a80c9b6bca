-- Every incident lists the reports merged into it (merged_ids), however they were merged.
--
-- An operator's merge kept the merged incident's id in the target's merged_ids; dedup's
-- automatic merge (a report joining an open incident) did not, so an unmerge of such a
-- report left the target still listing nothing, and the list answered differently for
-- the two kinds of merge. From this version both keep it (dispatcher.core.dedup.attach).
-- Here the incidents stored before are brought forward: each target's merged_ids becomes
-- the ids of the incidents that name it as duplicate_of and are merged, oldest first. The
-- document is the incident's projection; the history, which is the truth, already holds
-- every merge. Only the list changes: neither the version nor any other field.
UPDATE incidents AS t
SET doc = jsonb_set(t.doc, '{merged_ids}', m.ids)
FROM (
    SELECT duplicate_of, jsonb_agg(id ORDER BY received_at, id) AS ids
    FROM incidents
    WHERE state = 'merged' AND duplicate_of IS NOT NULL
    GROUP BY duplicate_of
) AS m
WHERE t.id = m.duplicate_of
  AND t.doc -> 'merged_ids' IS DISTINCT FROM m.ids;
