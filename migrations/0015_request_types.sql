-- 12345 request types (诉求类型) are no longer categories.
--
-- The shipped catalogue had four 小类 that were a request's type, not its problem: 200602 咨询,
-- 200603 求助, 200604 投诉, 200605 建议. A 投诉 about 占道经营 is category 占道经营 and type
-- 投诉; from this version an incident has `request_type` (consult, help, complaint,
-- suggestion, report) beside its category, and the hotline's limit follows the type
-- (dispatcher.core.request_types). Here what is stored is brought forward.
--
-- 1. Incidents filed under one of those codes get the type the code stood for. They keep
--    the code as their category of record, because:
--    - the history, which is the truth, says they were filed under it (its rows cannot be
--      changed), and the figures read the category from the history's creation row, so the
--      figures by category of past periods stay as they were whatever the projection says;
--    - the hotline filed them with that `service_code` and reads it back from Open311
--      `requests`: its work orders must not change under it;
--    - a generic "12345" category would be another type-as-category, what this removes.
--    No version moves and no history row is written: the history already holds the code the
--    type is read from, by the fixed mapping below (as migration 0014 brought a list forward).
--    Their case clocks keep the limits they started with. One not yet registered can still
--    be: its category being gone, its case clock starts on its type's limit
--    (dispatcher.core.request_types.case_limit, rule 3).
-- 2. The deployment's catalogue loses those four entries, so no new report is filed under a
--    type as a category (such a report is now 422, unknown category); each server loads the
--    catalogue when it starts.
--
-- 3. The shipped 200601 噪声扰民投诉 is a hotline kind whose limit is 12345 practice: it keeps
--    that limit for hotline work orders too (`hotline_limit_days`, as the shipped catalogue
--    now says), instead of taking a complaint's.
--
-- Only the shipped meaning is touched: a code counts when the deployment's catalogue holds it
-- under the shipped type's name. A deployment that replaced the catalogue (PUT
-- /api/v1/categories) and numbers its own 小类 200602–200605 keeps them and their incidents
-- as they are; one whose catalogue no longer has these codes keeps its old incidents' types
-- unknown (null), since nothing says what the codes meant to it.
WITH former (code, name, request_type) AS (
    VALUES ('200602', '咨询', 'consult'),
           ('200603', '求助', 'help'),
           ('200604', '投诉', 'complaint'),
           ('200605', '建议', 'suggestion')
), shipped AS (
    SELECT f.code, f.request_type
    FROM former f JOIN categories c ON c.code = f.code AND c.name = f.name
), typed AS (
    UPDATE incidents AS i
    SET doc = jsonb_set(i.doc, '{request_type}', to_jsonb(s.request_type))
    FROM shipped s
    WHERE i.category = s.code
      AND i.doc -> 'request_type' IS DISTINCT FROM to_jsonb(s.request_type)
    RETURNING i.id
)
DELETE FROM categories AS c
USING shipped s
WHERE c.code = s.code;

UPDATE categories
SET spec = spec || jsonb_build_object('hotline_limit_days', spec -> 'limit')
WHERE code = '200601' AND name = '噪声扰民投诉（社会生活噪声）'
  AND spec ->> 'clock' = 'working_days' AND NOT spec ? 'hotline_limit_days';
