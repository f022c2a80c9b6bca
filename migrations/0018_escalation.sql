-- An overdue case climbs the command tiers one at a time (逐级督办): its red tells the squad's
-- parent tier, and a `case_escalation` timer tells the next tier up at each further step of
-- lateness (DISPATCH_ESCALATION_STEP of the case's limit), until the top tier is told. The
-- timers table accepts the new kind; no stored row changes (a case that went red before this
-- told every tier above it at once and is owed no step).
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check
    CHECK (kind IN ('case_warning', 'case_overdue', 'stage_warning', 'stage_overdue',
                    'case_escalation'));
