-- Devices (cameras, drones, sensors) and the camera alarm host (报警主机, docs/API.md §17).
--
-- A device has a place (WGS84, matched to the zones like an incident's), the camera's MAC
-- and/or IP address by which its alerts are recognised, its channels, a live-stream URL and
-- rules that turn its events (event type, channel, detection target) into a category with a
-- confidence. When it was last heard from is kept; a device that should report
-- (offline_after_minutes set) and has not for that long is marked offline by a loop that
-- takes offline_due_at with FOR UPDATE SKIP LOCKED (dispatcher/store/devices.py).
--
-- Alerts from an address no device has are kept as sightings (未登记设备), one row an
-- address, for the admin to register.

CREATE TABLE devices (
    id                      text PRIMARY KEY,
    kind                    text NOT NULL,                  -- camera, drone, sensor
    name                    text NOT NULL,
    address                 text NOT NULL DEFAULT '',
    lon                     float8 NOT NULL,                -- WGS84
    lat                     float8 NOT NULL,
    zone_ids                text[] NOT NULL DEFAULT '{}',
    squad_id                text,
    mac                     text,                           -- lower case, colon-separated
    ip                      text,
    channels                integer NOT NULL DEFAULT 1,
    stream_url              text,
    rules                   jsonb NOT NULL DEFAULT '[]',
    offline_after_minutes   integer,                        -- NULL: not expected to report
    last_heard_at           timestamptz,
    last_event_type         text,
    offline_due_at          timestamptz,                    -- when it is offline if not heard
    offline_since           timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE UNIQUE INDEX devices_mac ON devices (mac) WHERE mac IS NOT NULL;
CREATE INDEX devices_ip ON devices (ip) WHERE ip IS NOT NULL;
CREATE INDEX devices_offline_due ON devices (offline_due_at) WHERE offline_due_at IS NOT NULL;

CREATE TABLE device_sightings (
    address         text PRIMARY KEY,                       -- the MAC, else the IP
    mac             text,
    ip              text,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    alerts          bigint NOT NULL DEFAULT 1,
    last_event_type text NOT NULL DEFAULT ''
);
