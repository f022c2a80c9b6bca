"""Devices in PostgreSQL: written, listed, found by MAC or IP, heard from, and marked offline.

Writing a device again (a sheet sent again) keeps when it was first written and what was
heard from it. Every alert of a known device, heartbeats included, is a :func:`heard` (unless
it was heard about the same event type within :data:`HEARD_EVERY`): the device is online and
falls due as offline ``offline_after_minutes`` later. :class:`OfflineWatch`
takes the due ones (``FOR UPDATE SKIP LOCKED``, so each is marked once across processes) and
marks them offline with a warning in the log; the device list shows them so. Alerts from
addresses no device has are kept as sightings (:func:`sighted`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from dispatcher.core.devices import Device, Kind, RuleIn
from dispatcher.store import records as store
from dispatcher.store.due_loop import DueLoop

log = logging.getLogger(__name__)

COLUMNS: Final = """id, kind, name, address, lon, lat, zone_ids, squad_id, mac, ip, channels,
stream_url, rules, offline_after_minutes, created_at, updated_at, last_heard_at, last_event_type,
offline_since"""
UPSERT: Final = """
INSERT INTO devices (id, kind, name, address, lon, lat, zone_ids, squad_id, mac, ip, channels,
                     stream_url, rules, offline_after_minutes, created_at, updated_at,
                     offline_due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::int, $15,
        $16::timestamptz,
        CASE WHEN $14::int IS NULL THEN NULL
             ELSE $16::timestamptz + make_interval(mins => $14::int) END)
ON CONFLICT (id) DO UPDATE SET
    kind = EXCLUDED.kind, name = EXCLUDED.name, address = EXCLUDED.address,
    lon = EXCLUDED.lon, lat = EXCLUDED.lat, zone_ids = EXCLUDED.zone_ids,
    squad_id = EXCLUDED.squad_id, mac = EXCLUDED.mac, ip = EXCLUDED.ip,
    channels = EXCLUDED.channels, stream_url = EXCLUDED.stream_url, rules = EXCLUDED.rules,
    offline_after_minutes = EXCLUDED.offline_after_minutes, updated_at = EXCLUDED.updated_at,
    offline_due_at = CASE
        WHEN EXCLUDED.offline_after_minutes IS NULL OR devices.offline_since IS NOT NULL
            THEN NULL
        ELSE coalesce(devices.last_heard_at, EXCLUDED.updated_at)
             + make_interval(mins => EXCLUDED.offline_after_minutes) END,
    offline_since = CASE WHEN EXCLUDED.offline_after_minutes IS NULL THEN NULL
                         ELSE devices.offline_since END
RETURNING (xmax = 0) AS inserted"""
SELECT_DEVICE: Final = f"SELECT {COLUMNS} FROM devices WHERE id = $1"
SELECT_ALL: Final = f"SELECT {COLUMNS} FROM devices ORDER BY id"
#: the device of an alert: by its MAC, else (no device has that MAC) by its IP
SELECT_BY_ADDRESS: Final = f"""
SELECT {COLUMNS} FROM devices
WHERE ($1::text IS NOT NULL AND mac = $1) OR ($2::text IS NOT NULL AND ip = $2)
ORDER BY (mac IS NOT DISTINCT FROM $1::text) DESC, id LIMIT 1"""
MAC_TAKEN: Final = "SELECT id FROM devices WHERE mac = $1 AND id <> $2"
HEARD: Final = """
UPDATE devices SET last_heard_at = $2::timestamptz, last_event_type = $3, offline_since = NULL,
    offline_due_at = CASE WHEN offline_after_minutes IS NULL THEN NULL
                          ELSE $2::timestamptz + make_interval(mins => offline_after_minutes) END
WHERE id = $1"""
SIGHTED: Final = """
INSERT INTO device_sightings (address, mac, ip, first_seen_at, last_seen_at, last_event_type)
VALUES ($1, $2, $3, $4, $4, $5)
ON CONFLICT (address) DO UPDATE SET
    ip = coalesce(EXCLUDED.ip, device_sightings.ip), last_seen_at = EXCLUDED.last_seen_at,
    alerts = device_sightings.alerts + 1, last_event_type = EXCLUDED.last_event_type"""
#: sightings of addresses that no device has (any more)
SIGHTINGS: Final = """
SELECT address, mac, ip, first_seen_at, last_seen_at, alerts, last_event_type
FROM device_sightings s
WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.mac = s.mac OR d.ip = s.ip)
ORDER BY last_seen_at DESC LIMIT 500"""
NEXT_DUE: Final = "SELECT min(offline_due_at) FROM devices WHERE offline_due_at IS NOT NULL"
TAKE_DUE: Final = """
UPDATE devices SET offline_since = offline_due_at, offline_due_at = NULL
WHERE id IN (SELECT id FROM devices WHERE offline_due_at <= $1
             ORDER BY offline_due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING id, name, last_heard_at, offline_since"""


def _decode(row: Any) -> Device:
    return Device(
        id=row["id"],
        kind=Kind(row["kind"]),
        name=row["name"],
        address=row["address"],
        lon=row["lon"],
        lat=row["lat"],
        zone_ids=tuple(row["zone_ids"]),
        squad_id=row["squad_id"],
        mac=row["mac"],
        ip=row["ip"],
        channels=row["channels"],
        stream_url=row["stream_url"],
        rules=tuple(RuleIn.model_validate(r) for r in json.loads(row["rules"])),
        offline_after_minutes=row["offline_after_minutes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_heard_at=row["last_heard_at"],
        last_event_type=row["last_event_type"],
        offline_since=row["offline_since"],
    )


async def upsert(conn: store.Connection | store.Pool, device: Device) -> bool:
    """Write one device; answer whether it is new."""
    return bool(
        await conn.fetchval(
            UPSERT,
            device.id,
            device.kind.value,
            device.name,
            device.address,
            device.lon,
            device.lat,
            list(device.zone_ids),
            device.squad_id,
            device.mac,
            device.ip,
            device.channels,
            device.stream_url,
            json.dumps([r.model_dump() for r in device.rules], ensure_ascii=False),
            device.offline_after_minutes,
            device.created_at,
            device.updated_at,
        )
    )


async def get(conn: store.Connection | store.Pool, device_id: str) -> Device | None:
    row = await conn.fetchrow(SELECT_DEVICE, device_id)
    return _decode(row) if row is not None else None


async def every(conn: store.Connection | store.Pool) -> list[Device]:
    return [_decode(r) for r in await conn.fetch(SELECT_ALL)]


async def mac_taken(conn: store.Connection | store.Pool, mac: str, device_id: str) -> str | None:
    """The id of another device with this MAC, or None."""
    found = await conn.fetchval(MAC_TAKEN, mac, device_id)
    return str(found) if found is not None else None


async def by_address(
    conn: store.Connection | store.Pool, mac: str | None, ip: str | None
) -> Device | None:
    """The device whose MAC is ``mac``, else whose IP is ``ip``."""
    row = await conn.fetchrow(SELECT_BY_ADDRESS, mac, ip)
    return _decode(row) if row is not None else None


#: a device heard this recently is not written again (a busy camera would write a row, and
#: wait for its commit, for every alert); its offline deadline moves by at most this much
HEARD_EVERY: Final = timedelta(seconds=15)


def hearing_is_news(device: Device, at: datetime, event_type: str) -> bool:
    """Whether hearing from ``device`` now changes what is shown: it was offline or never
    heard, last heard more than :data:`HEARD_EVERY` ago, or about another event type."""
    last = device.last_heard_at
    return (
        last is None
        or device.offline_since is not None
        or at - last >= HEARD_EVERY
        or device.last_event_type != event_type[:64]
    )


async def heard(
    conn: store.Connection | store.Pool, device_id: str, at: datetime, event_type: str
) -> None:
    await conn.execute(HEARD, device_id, at, event_type[:64])


async def sighted(
    conn: store.Connection | store.Pool,
    mac: str | None,
    ip: str | None,
    at: datetime,
    event_type: str,
) -> None:
    address = mac or ip
    if address is not None:
        await conn.execute(SIGHTED, address, mac, ip, at, event_type[:64])


async def sightings(conn: store.Connection | store.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SIGHTINGS)]


class OfflineWatch(DueLoop):
    """Marks devices offline that should report and have not; one per process, sharing it."""

    name = "device offline watch"
    next_due_query = NEXT_DUE

    def __init__(
        self,
        pool: store.Pool,
        *,
        batch: int = 200,
        idle_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_offline: Callable[[int], None] = lambda _: None,
    ) -> None:
        super().__init__(pool, batch=batch, idle_s=idle_s, clock=clock)
        self._on_offline = on_offline

    async def run_once(self) -> int:
        """Mark what is due now; answer how many went offline."""
        rows: Sequence[Any] = await self._pool.fetch(TAKE_DUE, self._clock(), self._batch)
        for row in rows:
            silent = row["offline_since"] - (row["last_heard_at"] or row["offline_since"])
            log.warning(
                "device %s (%s) is offline: nothing heard from it for %s",
                row["id"],
                row["name"],
                silent if silent > timedelta(0) else "its whole first period",
            )
        if rows:
            self._on_offline(len(rows))
        return len(rows)
