"""HTTP handlers for reference data (docs/API.md §3): squads, zones, categories."""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core.auth import READ_ALL, Role, require_role
from dispatcher.core.categories import InvalidCatalogue, parse_catalogue
from dispatcher.core.errors import INVALID_ZONES, BadRequest, ValidationFailed
from dispatcher.core.routing import Squad
from dispatcher.core.validation import validation_error
from dispatcher.store import reference
from dispatcher.web import context as http
from geo.coords import parse_crs, to_wgs84
from geo.errors import InvalidCoordinates, InvalidZones
from geo.index import ZoneIndex
from geo.zones import SliverLimits, feature_collection

ADMIN_ONLY = {Role.ADMIN}
#: reference data is what every signed-in console and phone draws; devices only post
READERS = {*READ_ALL, Role.SQUAD}

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")]


class SquadIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["centre", "street", "specialist"]
    parent_id: Id | None = None
    skills: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=50)
    ] = []


def decode_json(body: bytes, **hooks: Any) -> Any:
    """``body`` decoded as UTF-8 JSON (docs/API.md: text is UTF-8), or BadRequest."""
    try:
        return json.loads(body.decode("utf-8"), **hooks)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON: arrays or objects nested too deep") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


async def read_json(request: web.Request) -> Any:
    """The body decoded as JSON, or BadRequest."""
    return decode_json(await request.read())


def _float(text: str) -> float:
    return float(text)


def _int(text: str) -> int:
    return int(text)


async def read_zone_set(request: web.Request) -> Any:
    """The body of ``PUT /api/v1/zones`` decoded as JSON, or BadRequest.

    A zone set may be tens of MiB: it is decoded in a worker thread, and with number hooks
    written in Python, because the C decoder would otherwise hold the GIL for the whole
    document (a second or more), and every request of the process would wait for it.
    """
    body = await request.read()
    return await asyncio.to_thread(decode_json, body, parse_float=_float, parse_int=_int)


def squad_json(squad: Squad) -> dict[str, Any]:
    return {
        "id": squad.id,
        "name": squad.name,
        "kind": squad.kind,
        "parent_id": squad.parent_id,
        "skills": list(squad.skills),
    }


async def put_squad(request: web.Request) -> web.Response:
    require_role(http.principal(request), ADMIN_ONLY, "change squads")
    rt = http.runtime(request)
    squad_id = request.match_info["id"]
    if not squad_id or len(squad_id) > 100 or any(c.isspace() for c in squad_id):
        raise ValidationFailed("id: 1 to 100 characters without spaces", field="id")
    try:
        body = SquadIn.model_validate_json(await request.read())
    except ValidationError as exc:
        raise validation_error(exc) from None
    if (
        body.parent_id is not None
        and body.parent_id not in rt.ref.squads
        and body.parent_id != squad_id
    ):
        raise ValidationFailed(f"parent_id: no squad {body.parent_id}", field="parent_id")
    squad = Squad(squad_id, body.name, body.kind, body.parent_id, tuple(body.skills))
    created = await reference.put_squad(rt.pool, squad)
    await rt.announce({"type": "reference.changed"})
    return http.json_response(squad_json(squad), status=201 if created else 200)


async def list_squads(request: web.Request) -> web.Response:
    require_role(http.principal(request), READERS, "read squads")
    squads = http.runtime(request).ref.squads.values()
    return http.json_response({"squads": [squad_json(s) for s in squads]})


async def put_zones(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ADMIN_ONLY, "replace the zones")
    rt = http.runtime(request)
    flag = request.query.get("repair", "false")
    if flag not in ("true", "false"):
        raise ValidationFailed("repair: true or false", field="repair")
    collection = await read_zone_set(request)
    limits = SliverLimits(rt.settings.zone_sliver_m2, rt.settings.zone_sliver_width_m)
    try:
        zones, version, report = await reference.replace_zones(
            rt.pool,
            collection,
            list(rt.ref.squads),
            who.actor,
            limits=limits,
            repair=flag == "true",
        )
    except InvalidZones as exc:
        raise ValidationFailed(
            f"{len(exc.problems)} feature(s) are invalid; nothing was changed",
            code=INVALID_ZONES,
            details={
                "features": [
                    {"id": p.id, "index": p.index, "reason": p.reason} for p in exc.problems
                ]
            },
        ) from None
    await rt.announce({"type": "reference.changed"})
    return http.json_response(
        {
            "version": version,
            "features": len(zones),
            "slivers": [sliver.to_dict() for sliver in report.slivers],
            "corrections": [correction.to_dict() for correction in report.corrections],
            "warnings": [w.to_dict() for w in report.warnings],
        }
    )


#: each zone index's GeoJSON text, made once (in a worker thread) and shared by every reader:
#: a city's set is tens of MiB, and every console that opens asks for it
_ZONE_TEXTS: weakref.WeakKeyDictionary[ZoneIndex, asyncio.Future[bytes]] = (
    weakref.WeakKeyDictionary()
)


def _zone_text(zones: ZoneIndex, version: int) -> bytes:
    body = feature_collection(zones.zones)
    body["version"] = version
    return json.dumps(body, ensure_ascii=False).encode()


async def get_zones(request: web.Request) -> web.Response:
    require_role(http.principal(request), READERS, "read zones")
    ref = http.runtime(request).ref
    text = _ZONE_TEXTS.get(ref.zones)
    if text is None:
        text = asyncio.ensure_future(asyncio.to_thread(_zone_text, ref.zones, ref.zone_version))
        _ZONE_TEXTS[ref.zones] = text
    return web.Response(body=await asyncio.shield(text), content_type="application/json")


def _coordinate(request: web.Request, name: str) -> float:
    raw = request.query.get(name)
    if raw is None:
        raise ValidationFailed(f"{name}: required", field=name)
    try:
        return float(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: a number", field=name) from None


async def match_zones(request: web.Request) -> web.Response:
    http.principal(request)
    rt = http.runtime(request)
    try:
        lon, lat = to_wgs84(
            _coordinate(request, "lon"),
            _coordinate(request, "lat"),
            parse_crs(request.query.get("crs")),
        )
    except InvalidCoordinates as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    match = rt.ref.zones.match(lon, lat)
    return http.json_response(
        {
            "lon": lon,
            "lat": lat,
            "zones": [
                {"id": z.id, "name": z.name, "level": z.level.value, "squad_id": z.squad_id}
                for z in match.zones
            ],
            "squad_id": match.squad_id,
            "border_distance_m": match.border_distance_m,
        }
    )


async def put_categories(request: web.Request) -> web.Response:
    require_role(http.principal(request), ADMIN_ONLY, "replace the categories")
    rt = http.runtime(request)
    items = await read_json(request)
    if isinstance(items, dict) and "categories" in items:
        items = items["categories"]
    try:
        categories = parse_catalogue(items)
    except InvalidCatalogue as exc:
        raise ValidationFailed(
            str(exc),
            details={
                "problems": [{"index": i, "field": f, "reason": r} for i, f, r in exc.problems]
            },
        ) from None
    await reference.replace_categories(rt.pool, categories)
    await rt.announce({"type": "reference.changed"})
    return http.json_response({"categories": len(categories)})


async def list_categories(request: web.Request) -> web.Response:
    http.principal(request)
    cats = http.runtime(request).ref.categories.values()
    return http.json_response({"categories": [c.to_json() for c in cats]})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_put("/api/v1/squads/{id}", put_squad)
    router.add_get("/api/v1/squads", list_squads)
    router.add_put("/api/v1/zones", put_zones)
    router.add_get("/api/v1/zones", get_zones)
    router.add_get("/api/v1/zones/match", match_zones)
    router.add_put("/api/v1/categories", put_categories)
    router.add_get("/api/v1/categories", list_categories)
