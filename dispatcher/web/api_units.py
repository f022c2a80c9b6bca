"""HTTP and WebSocket handlers for units (docs/API.md §3): records, statuses, live positions.

Routes::

    PUT  /api/v1/units/{id}            admin: create or replace a unit
    GET  /api/v1/units?squad_id=..     units with status, load, position and its age
    GET  /api/v1/units/{id}
    POST /api/v1/units/{id}/position   admin, operator, or the unit's own squad
    POST /api/v1/units/{id}/status     admin, operator, or the unit's own squad

and on ``/ws``, from a unit's phone: ``{"type": "position", "unit_id", "lon", "lat", "crs"?,
"at"?}`` and ``{"type": "status", "unit_id", "status"}``; with a ``"ref"`` the server answers
``{"type": "ack", "ref", ...}``, and ``{"type": "error", ...}`` always when it refuses.

A squad sees and moves only its own units. Consoles get ``unit.moved`` (throttled) and
``unit.updated`` (at once) on ``all``, ``units`` and ``squad:<id>``, without ``seq``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web
from redis.exceptions import RedisError

from dispatcher.core.auth import ACT_ALL, READ_ALL, Principal, Role, require_role
from dispatcher.core.errors import DispatchError, Forbidden, NotFound, Unavailable, ValidationFailed
from dispatcher.core.incidents import Incident
from dispatcher.core.routing import Recommendation, UnitPolicy, with_units
from dispatcher.core.units import (
    Position,
    Unit,
    UnitState,
    moved_message,
    parse_position,
    parse_status,
    parse_unit,
    require_own_unit,
    topics_of,
    unit_json,
    updated_message,
)
from dispatcher.store import units as units_store
from dispatcher.web import context as http
from realtime.ws import MessageHook

log = logging.getLogger(__name__)

ADMIN_ONLY: Final = frozenset({Role.ADMIN})
READERS: Final = frozenset({*READ_ALL, Role.SQUAD})
MOVERS: Final = frozenset({*ACT_ALL, Role.SQUAD})
MAX_ID: Final = 100


def policy(rt: http.Runtime) -> UnitPolicy:
    s = rt.settings
    return UnitPolicy(stale_after_s=s.position_stale_s, load_penalty_m=s.load_penalty_m)


def _unit_id(raw: object) -> str:
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_ID or any(c.isspace() for c in raw):
        raise ValidationFailed("unit_id: 1 to 100 characters without spaces", field="unit_id")
    return raw


async def _states(rt: http.Runtime, units: Sequence[Unit]) -> list[UnitState]:
    """Units with their last position (Redis) and load (PostgreSQL). Without Redis the
    positions are missing, not the answer: the units are still listed."""
    ids = [u.id for u in units]
    try:
        kept = await rt.positions.read(ids)
    except (RedisError, OSError) as exc:
        log.warning("positions unavailable: %s", exc)
        kept = {}
    loads = await units_store.loads(rt.pool, ids)
    states = []
    for unit in units:
        place = kept.get(unit.id)
        position = None
        if place is not None:
            position = Position(place[0], place[1], datetime.fromtimestamp(place[2] / 1000, UTC))
        states.append(UnitState(unit, position, loads.get(unit.id, 0)))
    return states


def _json(rt: http.Runtime, state: UnitState, now: datetime) -> dict[str, Any]:
    return unit_json(state, now, rt.settings.zone, rt.settings.position_stale_s)


async def announce(rt: http.Runtime, unit: Unit) -> None:
    """Tell every console at once that a unit's record or status changed (``unit.updated``)."""
    now = datetime.now(UTC)
    (state,) = await _states(rt, [unit])
    body = updated_message(state, now, rt.settings.zone, rt.settings.position_stale_s)
    await rt.positions.announce(unit.id, topics_of(unit), body)


async def _movable(rt: http.Runtime, who: Principal, unit_id: str) -> Unit:
    require_role(who, MOVERS, "move units or change their status")
    unit = await units_store.get_unit(rt.pool, unit_id)
    if unit is None:
        raise NotFound(f"no unit {unit_id}")
    require_own_unit(who.role in ACT_ALL, who.squads(), unit)
    return unit


async def record_position(
    rt: http.Runtime, who: Principal, unit_id: str, body: bytes | str | Mapping[str, Any]
) -> tuple[Unit, Position, bool]:
    """Validate and keep a unit's position; answer (unit, position, kept). ``kept`` is False
    when a newer position was already kept (a late resend): nothing changed then."""
    unit = await _movable(rt, who, unit_id)
    position = parse_position(body, datetime.now(UTC))
    at_ms = round(position.at.timestamp() * 1000)
    message = moved_message(unit, position, rt.settings.zone)
    try:
        kept = await rt.positions.record(
            unit.id, position.lon, position.lat, at_ms, topics_of(unit), message
        )
    except (RedisError, OSError) as exc:
        raise Unavailable(f"positions cannot be kept now (Redis: {type(exc).__name__})") from None
    return unit, position, kept


async def change_status(
    rt: http.Runtime, who: Principal, unit_id: str, body: bytes | str | Mapping[str, Any]
) -> Unit:
    """Change a unit's status and announce it; answer the unit."""
    await _movable(rt, who, unit_id)
    status = parse_status(body)
    unit = await units_store.set_status(rt.pool, unit_id, status, who.actor, datetime.now(UTC))
    if unit is None:
        raise NotFound(f"no unit {unit_id}")
    await announce(rt, unit)
    return unit


async def put_unit(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ADMIN_ONLY, "change units")
    rt = http.runtime(request)
    unit_id = request.match_info["id"]
    if not 0 < len(unit_id) <= MAX_ID or any(c.isspace() for c in unit_id):
        raise ValidationFailed("id: 1 to 100 characters without spaces", field="id")
    body = parse_unit(await request.read())
    if body.squad_id not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {body.squad_id}", field="squad_id")
    now = datetime.now(UTC)
    unit, created = await units_store.put_unit(rt.pool, unit_id, body, who.actor, now)
    await announce(rt, unit)
    (state,) = await _states(rt, [unit])
    return http.json_response(_json(rt, state, now), status=201 if created else 200)


async def list_units(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read units")
    rt = http.runtime(request)
    squad_id = request.query.get("squad_id")
    squads = None if squad_id is None else sorted(rt.ref.scope(squad_id))
    if who.role is Role.SQUAD:
        if squad_id is not None and not who.covers([squad_id]):
            raise Forbidden("a squad's holder lists only its own tier's units")
        squads = squads or sorted(who.squads())
    units = await units_store.list_units(rt.pool, squads)
    now = datetime.now(UTC)
    states = await _states(rt, units)
    return http.json_response(
        {
            "units": [_json(rt, s, now) for s in states],
            "count": len(states),
            "stale_after_s": rt.settings.position_stale_s,
        }
    )


async def get_unit(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read units")
    rt = http.runtime(request)
    unit = await units_store.get_unit(rt.pool, request.match_info["id"])
    if unit is None:
        raise NotFound(f"no unit {request.match_info['id']}")
    require_own_unit(who.role in READ_ALL, who.squads(), unit)
    (state,) = await _states(rt, [unit])
    return http.json_response(_json(rt, state, datetime.now(UTC)))


async def post_position(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    body = await request.read()
    unit, position, kept = await record_position(
        rt, http.principal(request), request.match_info["id"], body
    )
    return http.json_response(
        {
            "unit_id": unit.id,
            "lon": position.lon,
            "lat": position.lat,
            "crs": "WGS84",
            "at": position.at.astimezone(rt.settings.zone).isoformat(timespec="milliseconds"),
            "kept": kept,
        }
    )


async def post_status(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    body = await request.read()
    unit = await change_status(rt, http.principal(request), request.match_info["id"], body)
    (state,) = await _states(rt, [unit])
    return http.json_response(_json(rt, state, datetime.now(UTC)))


def socket_hook(rt: http.Runtime, who: Principal) -> MessageHook:
    """The ``/ws`` hook for a connection of ``who``: positions and statuses of units."""

    async def on_message(message: dict[str, Any]) -> dict[str, Any] | None:
        kind, ref = message.get("type"), message.get("ref")
        try:
            if kind not in ("position", "status"):
                raise ValidationFailed(f"type: unknown message type {kind!r}", field="type")
            unit_id = _unit_id(message.get("unit_id"))
            if kind == "position":
                _, position, kept = await record_position(rt, who, unit_id, message)
                at = position.at.astimezone(rt.settings.zone).isoformat(timespec="milliseconds")
                answer: dict[str, Any] = {"kept": kept, "at": at}
            else:
                unit = await change_status(rt, who, unit_id, message)
                answer = {"status": unit.status.value}
        except DispatchError as exc:
            error: dict[str, Any] = {"type": "error", **exc.body()["error"]}
            if ref is not None:
                error["ref"] = ref
            return error
        if ref is None:
            return None
        return {"type": "ack", "ref": ref, "unit_id": unit_id, **answer}

    return on_message


async def with_live_units(
    rt: http.Runtime, incident: Incident, base: Recommendation
) -> Recommendation:
    """``base`` (squads) with each squad's best units by live position, skill and load."""
    category = rt.ref.categories.get(incident.category)
    squad_ids = list(dict.fromkeys(c.squad_id for c in base.candidates))
    if category is None or not squad_ids:
        return base
    units = await units_store.list_units(rt.pool, squad_ids)
    by_squad: dict[str, list[UnitState]] = {}
    for state in await _states(rt, units):
        by_squad.setdefault(state.unit.squad_id, []).append(state)
    now = datetime.now(UTC)
    return with_units(base, incident.lon, incident.lat, category, by_squad, now, policy(rt))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/units", list_units)
    router.add_put("/api/v1/units/{id}", put_unit)
    router.add_get("/api/v1/units/{id}", get_unit)
    router.add_post("/api/v1/units/{id}/position", post_position)
    router.add_post("/api/v1/units/{id}/status", post_status)
