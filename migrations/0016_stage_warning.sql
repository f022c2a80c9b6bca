-- A stage's clock warns as the case clock does (三色预警): a `stage_warning` timer gives its
-- yellow at warn_at of the stage's limit, before the `stage_overdue` red, which now raises a
-- supervision record (督办) and tells the parent squads like the case clock's red. The timers
-- table accepts the new kind; no stored row changes (each incident's timers are rewritten at
-- its next change, and the timer loop arms again what it takes early).
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check
    CHECK (kind IN ('case_warning', 'case_overdue', 'stage_warning', 'stage_overdue'));
