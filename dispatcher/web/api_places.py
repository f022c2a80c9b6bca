"""Regulated places (监管对象): ``/api/v1/places`` (docs/API.md §13).

Write one place (``PUT``), import a bureau's sheet (CSV or Excel, Chinese headers; good rows go
in, each bad row is reported by its number), find places by name, code, licence, 亮码 code,
kind or distance from a point, and read one place with its history: every inspection task,
each finding and the incidents the findings became. A place's point is matched to the zones
like an incident's, so it has the squad that answers for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from dispatcher.core import places as core
from dispatcher.core.auth import Principal, Role, require_role
from dispatcher.core.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from dispatcher.core.orders_sheet import media_type_of
from dispatcher.core.validation import validation_error
from dispatcher.store import inspections as tasks_store
from dispatcher.store import places as store
from dispatcher.web import context as http
from dispatcher.web.api_media import UnsupportedMedia
from geo.coords import parse_crs, to_wgs84
from geo.errors import InvalidCoordinates

PREFIX: Final = "/api/v1/places"
READERS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SQUAD})
WRITERS: Final = frozenset({Role.ADMIN, Role.OPERATOR})
MAX_SHEET: Final = 20 * 1024 * 1024


def _reader(request: web.Request) -> Principal:
    who = http.principal(request)
    require_role(who, READERS, "read regulated places")
    return who


def squads_of(who: Principal) -> frozenset[str] | None:
    """The squads whose places a caller sees (None: all)."""
    return who.squads() if who.role is Role.SQUAD else None


def locate(
    rt: http.Runtime, cmd: core.PlaceIn, now: datetime, created: datetime | None
) -> core.Place:
    """The place at its WGS84 point, with the zones and squad matched there (as intake's)."""
    try:
        lon, lat = to_wgs84(cmd.lon, cmd.lat, parse_crs(cmd.crs))
    except InvalidCoordinates as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    match = rt.ref.zones.match(lon, lat)
    return core.place_of(cmd, lon, lat, match.zone_ids, match.squad_id, now, created)


def present(rt: http.Runtime, place: core.Place) -> dict[str, Any]:
    doc = place.to_doc(rt.settings.zone)
    squad = rt.ref.squads.get(place.squad_id or "")
    doc["squad_name"] = squad.name if squad else None
    return doc


async def put_place(request: web.Request) -> web.Response:
    """Write one place (its id is the bureau's code)."""
    who = http.principal(request)
    require_role(who, WRITERS, "write regulated places")
    rt = http.runtime(request)
    try:
        cmd = core.PlaceIn.model_validate_json(
            _with_id(await request.read(), request.match_info["id"])
        )
    except ValidationError as exc:
        raise validation_error(exc) from None
    before = await store.get(rt.pool, cmd.id)
    place = locate(rt, cmd, datetime.now(UTC), before.created_at if before else None)
    await store.upsert(rt.pool, [place])
    return http.json_response(present(rt, place), status=200 if before else 201)


def _with_id(body: bytes, place_id: str) -> bytes:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return body  # pydantic names the fault
    if isinstance(data, dict):
        data.setdefault("id", place_id)
        if data["id"] != place_id:
            raise ValidationFailed("id: differs from the id in the path", field="id")
    return json.dumps(data).encode()


async def import_sheet(request: web.Request) -> web.Response:
    """Import a 监管对象台账 (CSV or .xlsx): every good row written, every bad row reported."""
    who = http.principal(request)
    require_role(who, WRITERS, "import regulated places")
    rt = http.runtime(request)
    media_type = media_type_of(request.content_type)
    if media_type is None:
        raise UnsupportedMedia("send the sheet as text/csv or an .xlsx workbook")
    body = await request.read()
    if len(body) > MAX_SHEET:
        raise PayloadTooLarge("a sheet is at most 20 MiB")
    rows = core.parse_sheet(body, media_type)
    now = datetime.now(UTC)
    good: list[core.Place] = []
    errors: list[dict[str, Any]] = []
    for row in rows:
        if row.place is None:
            assert row.error is not None
            errors.append(
                {"row": row.number, "field": row.error.field, "message": row.error.message}
            )
            continue
        try:
            good.append(locate(rt, row.place, now, None))
        except ValidationFailed as exc:
            errors.append({"row": row.number, "field": exc.field, "message": exc.message})
    created = await store.upsert(rt.pool, good) if good else 0
    unzoned = [p.id for p in good if p.squad_id is None]
    return http.json_response(
        {
            "rows": len(rows),
            "imported": len(good),
            "created": created,
            "updated": len(good) - created,
            "rejected": len(errors),
            "errors": errors,
            "without_squad": unzoned,
        }
    )


def _number(request: web.Request, name: str, low: float, high: float) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: a number", field=name) from None
    if not low <= value <= high:
        raise ValidationFailed(f"{name}: between {low} and {high}", field=name)
    return value


async def list_places(request: web.Request) -> web.Response:
    """Find places: ``q`` (name, code, licence or 亮码 code), ``kind``, ``lon``/``lat`` and
    ``radius_m`` (nearest first), ``limit``."""
    who = _reader(request)
    rt = http.runtime(request)
    query = request.query
    text = query.get("q") or None
    if text is not None and ("\x00" in text or len(text) > 200):
        raise ValidationFailed("q: at most 200 characters, no NUL", field="q")
    kind = query.get("kind") or None
    if kind is not None and kind not in {k.value for k in core.Kind}:
        raise ValidationFailed(f"kind: unknown kind {kind}", field="kind")
    lon = _number(request, "lon", -180, 180)
    lat = _number(request, "lat", -90, 90)
    if (lon is None) != (lat is None):
        raise ValidationFailed("lon: give lon and lat together", field="lon")
    radius = _number(request, "radius_m", 1, 50_000)
    limit = int(_number(request, "limit", 1, 1000) or 100)
    found = await store.search(
        rt.pool,
        text=text,
        kind=kind,
        squads=squads_of(who),
        near=(lon, lat) if lon is not None and lat is not None else None,
        radius_m=radius or 500.0,
        limit=limit,
    )
    answer = []
    for place, metres in found:
        doc = present(rt, place)
        if metres is not None:
            doc["distance_m"] = round(metres, 1)
        answer.append(doc)
    return http.json_response({"places": answer})


async def readable(request: web.Request, place_id: str) -> core.Place:
    who = _reader(request)
    if len(place_id) > 64 or "\x00" in place_id:
        raise NotFound(f"no place {place_id!r}")
    place = await store.get(http.runtime(request).pool, place_id)
    if place is None:
        raise NotFound(f"no place {place_id}")
    if who.role is Role.SQUAD and not who.covers([place.squad_id]):
        raise Forbidden("a squad sees the places of its own tier")
    return place


async def get_place(request: web.Request) -> web.Response:
    """One place with its history: each inspection, its findings, the incidents they became."""
    rt = http.runtime(request)
    place = await readable(request, request.match_info["id"])
    tz = rt.settings.zone
    doc = present(rt, place)
    history = await tasks_store.list_tasks(
        rt.pool, squads=None, states=None, plan_id=None, place_id=place.id, limit=1000
    )
    doc["inspections"] = [
        {
            **{k: v for k, v in t.to_doc(tz).items() if k not in ("items",)},
            "failed": [r.to_doc() for r in t.results if not r.passed],
        }
        for t in sorted(history, key=lambda t: t.assigned_at, reverse=True)
    ]
    doc["incident_ids"] = [i for t in history for i in t.incident_ids]
    return http.json_response(doc)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(PREFIX + ":import", import_sheet)
    router.add_get(PREFIX, list_places)
    router.add_put(PREFIX + "/{id}", put_place)
    router.add_get(PREFIX + "/{id}", get_place)
