-- Units of the squads (a vehicle, or a pair of officers: enforcement needs two), their skills
-- (专业执法联络员) and their status. Positions are not here: they are ephemeral and live in
-- Redis (GEO commands, with their age); a unit's status is durable and lives here.

CREATE TABLE units (
    id          text PRIMARY KEY,
    squad_id    text NOT NULL REFERENCES squads (id),
    name        text NOT NULL,
    skills      text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL
                CHECK (status IN ('available', 'en_route', 'on_scene', 'busy', 'off_duty')),
    -- when the status last changed, and who changed it (a token id, or 'system')
    status_at   timestamptz NOT NULL DEFAULT now(),
    status_by   text NOT NULL DEFAULT 'system',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX units_squad ON units (squad_id, id);

-- A unit's load: the incidents dispatched to it that it has not finished (dispatched or
-- accepted). The predicate is repeated word for word by the query in dispatcher/units_store.py.
CREATE INDEX incidents_unit_load ON incidents ((doc->>'unit_id'))
    WHERE state IN ('dispatched', 'accepted');
