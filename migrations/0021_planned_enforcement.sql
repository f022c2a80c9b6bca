-- Planned enforcement: regulated places (监管对象), inspection plans with the 双随机 draw,
-- inspection tasks (one combined visit a place: 综合查一次) and campaigns (专项整治).
--
-- Plans' and tasks' steps (drawn, assigned, warned, overdue, done) are entries of the
-- hash-chained history whose subject (history.incident_id) is the plan's or the task's id:
-- plan ids start with 'JH' (计划), task ids with 'XC' (巡查), incident ids with a digit, so they
-- never meet in that column (dispatcher/core/inspections.py).

-- A regulated place: a shop, a stall's fixed spot, a construction site, a waste transport
-- company or one of its vehicles, an advertising board. The id is the bureau's own code
-- (监管对象编码); other records (cases, issue 18) refer to a place by it.
CREATE TABLE places (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN (
                     'shop', 'stall_spot', 'construction_site', 'waste_transport', 'vehicle',
                     'billboard')),
    address      text NOT NULL DEFAULT '',
    lon          double precision NOT NULL,   -- WGS84
    lat          double precision NOT NULL,
    zone_ids     text[] NOT NULL DEFAULT '{}', -- matched like an incident's, at import
    squad_id     text,                         -- the squad answering for the place's zone
    licences     text[] NOT NULL DEFAULT '{}', -- licence numbers (营业执照, 渣土准运证, ...)
    departments  text[] NOT NULL DEFAULT '{}', -- the departments that regulate it
    risk         text NOT NULL CHECK (risk IN ('A', 'B', 'C', 'D')), -- 信用风险分类
    qr_code      text NOT NULL,                -- the code its 亮码 sign shows
    owner        text NOT NULL DEFAULT '',     -- the operator or company (经营者/单位)
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX places_kind ON places (kind, risk);
CREATE INDEX places_zones ON places USING gin (zone_ids);
CREATE INDEX places_squad ON places (squad_id);
CREATE INDEX places_name ON places (lower(name));
CREATE INDEX places_qr ON places (qr_code);

CREATE SEQUENCE inspection_plan_no;
CREATE SEQUENCE inspection_task_no;
CREATE SEQUENCE campaign_no;

-- A plan: its checklist, population filter, period, sample, and once drawn its seed and the
-- draw's result (kept whole, so that the published draw is what was drawn).
CREATE TABLE inspection_plans (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    tier_id       text NOT NULL,               -- the squad whose tier inspects
    checklist     jsonb NOT NULL,              -- [{id, department, kinds, text, category}]
    population    jsonb NOT NULL,              -- {kinds, zone_ids, risks}
    sample_size   integer NOT NULL CHECK (sample_size > 0),
    officers      integer NOT NULL DEFAULT 2,
    days          double precision NOT NULL,   -- working days a task has
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    campaign_id   text,
    state         text NOT NULL CHECK (state IN ('draft', 'drawn')),
    seed          text,
    draw          jsonb,                       -- the population, rule and result of the draw
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    drawn_at      timestamptz,
    drawn_by      text,
    version       integer NOT NULL DEFAULT 1
);

-- A task: one visit to one place covering every department's items (综合查一次).
CREATE TABLE inspection_tasks (
    id            text PRIMARY KEY,
    plan_id       text NOT NULL REFERENCES inspection_plans (id),
    place_id      text NOT NULL REFERENCES places (id),
    squad_id      text,
    officer_ids   text[] NOT NULL DEFAULT '{}',
    departments   text[] NOT NULL DEFAULT '{}',
    items         jsonb NOT NULL,              -- the checklist items this place gets
    results       jsonb,                       -- [{item_id, passed, note, photos}]
    state         text NOT NULL CHECK (state IN ('assigned', 'done')),
    colour        text NOT NULL CHECK (colour IN ('green', 'yellow', 'red')),
    assigned_at   timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    yellow_at     timestamptz NOT NULL,
    -- the next warning owed (yellow, then red) while the task is open; NULL otherwise
    due_at        timestamptz,
    qr_code       text,                        -- the code scanned or typed (亮码检查)
    findings      integer NOT NULL DEFAULT 0,  -- failed items
    incident_ids  text[] NOT NULL DEFAULT '{}',
    done_at       timestamptz,
    done_by       text,
    note          text NOT NULL DEFAULT '',
    version       integer NOT NULL DEFAULT 1
);
CREATE INDEX inspection_tasks_due ON inspection_tasks (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX inspection_tasks_plan ON inspection_tasks (plan_id);
CREATE INDEX inspection_tasks_place ON inspection_tasks (place_id, assigned_at);
CREATE INDEX inspection_tasks_squad ON inspection_tasks (squad_id, state, deadline);
CREATE INDEX inspection_tasks_assigned ON inspection_tasks (assigned_at);

-- A campaign (专项整治): its period and scope; what lies inside is computed when read.
CREATE TABLE campaigns (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    zone_ids      text[] NOT NULL DEFAULT '{}',
    categories    text[] NOT NULL DEFAULT '{}',
    place_kinds   text[] NOT NULL DEFAULT '{}',
    targets       jsonb NOT NULL DEFAULT '{}', -- {inspections, incidents_closed, ...}
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL
);
