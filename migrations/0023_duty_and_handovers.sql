-- Duty (勤务) and hand-overs between departments (移送 / 联勤联动).
--
-- Duty: posts (岗点) of a squad, each a place (a GeoJSON point or polygon), some joint posts
-- with the police (城警联勤); shifts (班次) with local start and end times (an end at or before
-- the start crosses midnight); rosters (排班): a cycle of days from a first day, each team's
-- shift on each day of the cycle (a week's plan is a cycle of 7; 四班三运转 one of 8), and the
-- people of each team with their posts. Who is on duty at an instant is computed from these
-- (dispatcher/core/duty.py). Check-ins at a post, accepted or refused, are kept.
--
-- Hand-overs: an incident handed over to another department (its code, from the deployment's
-- list DISPATCH_DEPARTMENTS) is a row here, a projection of the incident's own history entries
-- (every step is an incident event through the one change path). A department's people call
-- with a device token whose ``department`` is set (tokens.department, below).

CREATE TABLE duty_posts (
    id              text PRIMARY KEY,
    squad_id        text NOT NULL,
    name            text NOT NULL,
    place           jsonb NOT NULL,                 -- GeoJSON Point or Polygon (WGS84)
    joint_police    boolean NOT NULL DEFAULT false, -- 城警联勤
    police_unit     text NOT NULL DEFAULT '',       -- the police unit of a joint post
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL
);
CREATE INDEX duty_posts_squad ON duty_posts (squad_id);

CREATE TABLE duty_shifts (
    id              text PRIMARY KEY,
    squad_id        text NOT NULL,
    name            text NOT NULL,                  -- 早班, 中班, 夜班 ...
    starts          time NOT NULL,                  -- local time (DISPATCH_TIMEZONE)
    ends            time NOT NULL,                  -- at or before starts: the next day
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL
);
CREATE INDEX duty_shifts_squad ON duty_shifts (squad_id);

CREATE TABLE duty_rosters (
    id              text PRIMARY KEY,
    squad_id        text NOT NULL,
    name            text NOT NULL,
    starts_on       date NOT NULL,                  -- the cycle's first day
    ends_on         date,                           -- the last day it holds (NULL: open)
    cycle_days      integer NOT NULL CHECK (cycle_days BETWEEN 1 AND 366),
    pattern         jsonb NOT NULL,                 -- team → [shift id or null, per cycle day]
    members         jsonb NOT NULL,                 -- [{person_id, team, post_id}]
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL
);
CREATE INDEX duty_rosters_squad ON duty_rosters (squad_id);

CREATE TABLE duty_check_ins (
    id              bigserial PRIMARY KEY,
    person_id       text NOT NULL,
    post_id         text NOT NULL,
    squad_id        text NOT NULL,
    shift_id        text,
    shift_starts_at timestamptz,
    at              timestamptz NOT NULL,
    lon             double precision NOT NULL,
    lat             double precision NOT NULL,
    distance_m      double precision,
    accepted        boolean NOT NULL,
    late            boolean NOT NULL DEFAULT false,
    reason          text NOT NULL DEFAULT ''        -- why a check-in was refused
);
CREATE INDEX duty_check_ins_recent ON duty_check_ins (at DESC);
CREATE INDEX duty_check_ins_person ON duty_check_ins (person_id, at DESC);

-- A department's token: a device token with the department's code.
ALTER TABLE tokens ADD COLUMN department text;

CREATE SEQUENCE handover_no;

CREATE TABLE handovers (
    id              text PRIMARY KEY,               -- 移送单号: YS, local date, number
    incident_id     text NOT NULL REFERENCES incidents (id),
    department      text NOT NULL,
    squad_id        text,                           -- the squad the incident was with
    reason          text NOT NULL,
    state           text NOT NULL CHECK (state IN (
                        'pending', 'accepted', 'refused', 'reported', 'closed', 'taken_back')),
    handed_at       timestamptz NOT NULL,
    handed_by       text NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    receipt_no      text,                           -- the department's 回执号 on acceptance
    refusal_reason  text,
    reported_at     timestamptz,
    result          text,                           -- 办理结果
    ended_at        timestamptz,
    ended_by        text,
    -- seconds on the working calendar each side held the incident during this hand-over
    department_held_s double precision,
    centre_held_s     double precision,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX handovers_incident ON handovers (incident_id, handed_at);
CREATE INDEX handovers_department ON handovers (department, state, handed_at);
CREATE INDEX handovers_handed ON handovers (handed_at);
