-- A 12345 work order's contact clock (联系时限) warns like the case and stage clocks: a
-- `contact_warning` timer gives its yellow at warn_at of the working hours from receipt to the
-- contact deadline, a `contact_overdue` its red at the deadline (a supervision record, the
-- parent tier told) unless the caller was contacted first. The timers table accepts the kinds;
-- no stored row changes (each order's timers are armed at its next change).
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check
    CHECK (kind IN ('case_warning', 'case_overdue', 'stage_warning', 'stage_overdue',
                    'case_escalation', 'contact_warning', 'contact_overdue'));
