"""The OpenAPI 3.1 description of every route: ``GET /api/v1/openapi.json`` (no token: the
document holds no secret), and its viewer, ``/api/docs`` (Swagger UI, vendored).

The document is put together from four sources, so that it cannot drift from the code:

- ``data/openapi.json``, kept by hand: each ``/api/v1`` operation's summary, roles
  (``x-roles``), parameters, responses and the response schemas;
- ``data/openapi_service.json``, kept by hand: the routes outside ``/api/v1`` (Open311
  GeoReport v2, ``/ws``, ``/healthz``, ``/readyz``, ``/metrics``, the alarm host), each with
  the security it really has (``[]`` for none);
- the request models the handlers validate with (pydantic's JSON Schemas of ``IncidentIn``,
  ``ActionIn``, ``SquadIn``, ...), added to ``components.schemas``;
- the figures' counts, rates and formulas from :mod:`dispatcher.core.stats`.

The application's route table is walked each time the document is built. A route that
neither file describes still appears, made from its handler's
docstring and marked ``x-described: false``; ``tests/unit/test_openapi.py`` fails until it is
described properly.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dispatcher.core.campaigns import CampaignIn
from dispatcher.core.departments import HandoverActionIn, HandOverIn
from dispatcher.core.devices import DeviceIn
from dispatcher.core.duty import CheckInIn, PostIn, RosterIn, ShiftIn
from dispatcher.core.enforcement import CaseIn, StepIn
from dispatcher.core.hotline import HotlineIn
from dispatcher.core.inspections import DrawIn, PlanIn, ResultIn
from dispatcher.core.intake import IncidentIn
from dispatcher.core.lifecycle import ActionIn
from dispatcher.core.places import PlaceIn
from dispatcher.core.sampling import CheckIn, SampleIn
from dispatcher.core.stats import COUNTS, DEFINITIONS, LABELS, RATES, RULES, TIMES
from dispatcher.core.supervision import AssignIn, CloseIn, ItemIn, ReplyIn, ReviewIn
from dispatcher.core.units import PositionIn, StatusIn, UnitIn
from dispatcher.web import context as http
from dispatcher.web.api_handovers import DepartmentTokenIn
from dispatcher.web.api_people import PasswordChange, PersonIn, PersonPatch, SignIn
from dispatcher.web.api_reference import SquadIn
from dispatcher.web.api_tokens import TokenIn

PREFIX: Final = "/api/v1"
#: the routes outside /api/v1 the document describes (data/openapi_service.json): by prefix,
#: and by path (the pages, /static/ and / are not part of the interface)
SERVICE_PREFIXES: Final = ("/open311/v2/",)
SERVICE_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics", "/ws", "/isapi/alarm"})
#: the viewer of the document (frontend/api-docs.html, Swagger UI from frontend/vendor/)
DOCS_PATH: Final = "/api/docs"
DOCS_PAGE: Final = "/static/api-docs.html"
#: the methods a route table entry may describe (HEAD is added by aiohttp for every GET)
METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PARAM: Final = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
REQUEST_MODELS: Final[tuple[type[BaseModel], ...]] = (
    IncidentIn,
    ActionIn,
    HotlineIn,
    SquadIn,
    TokenIn,
    UnitIn,
    PositionIn,
    StatusIn,
    SampleIn,
    CheckIn,
    ItemIn,
    ReplyIn,
    ReviewIn,
    CloseIn,
    AssignIn,
    SignIn,
    PersonIn,
    PersonPatch,
    PasswordChange,
    CaseIn,
    StepIn,
    PostIn,
    ShiftIn,
    RosterIn,
    CheckInIn,
    HandOverIn,
    HandoverActionIn,
    DepartmentTokenIn,
    PlaceIn,
    PlanIn,
    DrawIn,
    ResultIn,
    CampaignIn,
    DeviceIn,
)


@functools.cache
def _static() -> dict[str, Any]:
    """The hand-kept description with the request and figures schemas added (built once)."""
    text = resources.files("dispatcher").joinpath("data/openapi.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    schemas = doc["components"]["schemas"]
    _, definitions = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    schemas.update(definitions.get("$defs", {}))
    _merge_service(doc)
    schemas["StatsGroup"] = stats_group_schema()
    stats = doc["paths"][f"{PREFIX}/stats"]["get"]
    stats["description"] = stats_description()
    return doc


def _merge_service(doc: dict[str, Any]) -> None:
    """Add the routes outside /api/v1, their tags, schemas and security schemes."""
    text = resources.files("dispatcher").joinpath("data/openapi_service.json").read_text("utf-8")
    service: dict[str, Any] = json.loads(text)
    doc["paths"].update(service["paths"])
    doc["tags"] = [*doc.get("tags", []), *service["tags"]]
    for kind, entries in service["components"].items():
        doc["components"].setdefault(kind, {}).update(entries)


def stats_group_schema() -> dict[str, Any]:
    """One row of the figures: each count and rate with its definition (dispatcher.core.stats)."""
    properties: dict[str, Any] = {
        "key": {
            "type": ["string", "null"],
            "description": "the squad, zone, category, source "
            "or day (YYYY-MM-DD); null for incidents that have none",
        },
        "name": {"type": "string", "description": "the key's name (合计 for the total)"},
    }
    for name in COUNTS:
        properties[name] = {
            "type": "integer",
            "description": f"{LABELS[name]}: {DEFINITIONS[name]}",
        }
    for name in RATES:
        properties[name] = {"type": ["number", "null"], "description": DEFINITIONS[name]}
    properties["times"] = {
        "type": "object",
        "properties": {
            t: {
                "$ref": "#/components/schemas/TimeFigure",
                "description": f"{LABELS[t]}: {DEFINITIONS[t]}",
            }
            for t in TIMES
        },
    }
    properties["score"] = {"type": ["number", "null"], "description": DEFINITIONS["score"]}
    return {
        "type": "object",
        "required": [*COUNTS, *RATES, "times", "score"],
        "properties": properties,
    }


def stats_description() -> str:
    lines = ["Formulas:"]
    lines += [f"- {DEFINITIONS[name]}" for name in RATES]
    lines += [f"- {name}: {DEFINITIONS[name]}" for name in COUNTS]
    lines += ["", "Rules:"] + [f"- {rule}" for rule in RULES]
    lines += [
        "",
        "Auditors, operators and admins read every squad's figures; a squad token only its "
        "own squad's (squad_id set in the answer); device tokens none.",
    ]
    return "\n".join(lines)


def _routes(router: web.UrlDispatcher) -> Iterator[tuple[str, str, Any]]:
    for route in router.routes():
        if route.method not in METHODS or route.resource is None:
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if isinstance(path, str):
            yield route.method, path, route.handler


def api_routes(router: web.UrlDispatcher) -> Iterator[tuple[str, str, Any]]:
    """(method, path, handler) of every ``/api/v1`` route of the table."""
    for method, path, handler in _routes(router):
        if path.startswith(PREFIX):
            yield method, path, handler


def service_routes(router: web.UrlDispatcher) -> Iterator[tuple[str, str, Any]]:
    """(method, path, handler) of every route outside ``/api/v1`` the document describes."""
    for method, path, handler in _routes(router):
        if path in SERVICE_PATHS or path.startswith(SERVICE_PREFIXES):
            yield method, path, handler


def _undescribed(path: str, handler: Any) -> dict[str, Any]:
    summary = (handler.__doc__ or "").strip().splitlines()
    return {
        "summary": summary[0] if summary else handler.__name__.replace("_", " "),
        "x-described": False,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(path)
        ],
        "responses": {"default": {"description": "see the handler"}},
    }


def document(router: web.UrlDispatcher) -> dict[str, Any]:
    """The OpenAPI document of ``router``'s ``/api/v1`` routes and its service routes."""
    doc = copy.deepcopy(_static())
    paths: dict[str, Any] = doc["paths"]
    routed: set[tuple[str, str]] = set()
    for method, path, handler in [*api_routes(router), *service_routes(router)]:
        routed.add((path, method.lower()))
        paths.setdefault(path, {}).setdefault(method.lower(), _undescribed(path, handler))
    for path in list(paths):  # describe only what the application serves
        for method in list(paths[path]):
            if (path, method) not in routed:
                del paths[path][method]
        if not paths[path]:
            del paths[path]
    return doc


async def get_openapi(request: web.Request) -> web.Response:
    """This document (no token: it describes the interface and holds no secret)."""
    return http.json_response(document(request.app.router))


async def docs_page(_: web.Request) -> web.Response:
    """The viewer of the document (a static page: Swagger UI, vendored, works offline)."""
    raise web.HTTPFound(DOCS_PAGE)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{PREFIX}/openapi.json", get_openapi)
    router.add_get(DOCS_PATH, docs_page)
