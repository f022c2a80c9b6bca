"""The Open311 GeoReport v2 server at ``/open311/v2/`` for the 12345 hotline (docs/API.md §4).

Routes (``{fmt}`` is ``json`` or ``xml``, as the specification's format suffix):

- ``GET services.{fmt}``, ``GET services/{code}.{fmt}``: the catalogue, public;
- ``POST requests.{fmt}``: form-encoded, ``api_key`` a device, operator or admin token;
- ``GET requests.{fmt}``, ``GET requests/{id}.{fmt}``: hotline requests, ``api_key`` needed.

Errors are answered in the specification's format and statuses (400, 403, 404), never in the
``/api/v1`` one: :func:`_open311` catches our errors and writes them as GeoReport does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from dispatcher.core import open311
from dispatcher.core.auth import INTAKE, READ_ALL, Principal, Role
from dispatcher.core.errors import BadRequest, DispatchError, Forbidden, NotFound, Unauthorized
from dispatcher.core.incidents import Incident
from dispatcher.core.intake import parse_report_object
from dispatcher.store import records as store
from dispatcher.web import cases
from dispatcher.web import context as http
from dispatcher.web.ratelimit import device_key

BASE: Final = "/open311/v2"
#: hotline requests with the incident each was merged into, newest first
SELECT_REQUESTS: Final = """
SELECT i.doc, t.doc AS target FROM incidents i LEFT JOIN incidents t ON t.id = i.duplicate_of
WHERE i.source = 'hotline'
  AND (cardinality($1::text[]) = 0 OR i.id = ANY($1::text[]))
  AND (cardinality($2::text[]) = 0 OR i.category = ANY($2::text[]))
  AND ($3::timestamptz IS NULL OR i.received_at >= $3)
  AND ($4::timestamptz IS NULL OR i.received_at <= $4)
  AND ($5::text IS NULL
       OR (coalesce(t.state, i.state) IN ('closed', 'rejected')) = ($5 = 'closed'))
ORDER BY i.received_at DESC, i.id DESC LIMIT $6"""

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _respond(request: web.Request, root: str, value: Any, status: int = 200) -> web.Response:
    if request.match_info.get("fmt") == "xml":
        return web.Response(
            body=open311.to_xml(root, value),
            status=status,
            content_type="text/xml",
            charset="utf-8",
        )
    return http.json_response(value, status=status)


def _open311(handler: Handler) -> Handler:
    """Answer our errors in GeoReport's format; an unknown api_key is its 403."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Unauthorized as exc:
            error = Forbidden(f"api_key: {exc.message}")
            return _respond(request, "errors", open311.errors_body(error), error.status)
        except DispatchError as exc:
            return _respond(request, "errors", open311.errors_body(exc), exc.status)

    return wrapped


async def _caller(request: web.Request, params: Any, roles: frozenset[Role]) -> Principal:
    secret = params.get("api_key")
    if not secret:
        raise Forbidden("api_key was not provided")
    who = await http.runtime(request).tokens.authenticate(secret)
    if who.role not in roles:
        raise Forbidden(f"api_key: a {who.role} token may not do this")
    return who


def _jurisdiction(request: web.Request, params: Any) -> None:
    open311.check_jurisdiction(
        params.get("jurisdiction_id"), http.runtime(request).settings.open311_jurisdiction_id
    )


@_open311
async def get_services(request: web.Request) -> web.Response:
    _jurisdiction(request, request.query)
    rt = http.runtime(request)
    return _respond(request, "services", open311.services(rt.ref.categories.values()))


@_open311
async def get_service(request: web.Request) -> web.Response:
    _jurisdiction(request, request.query)
    category = http.runtime(request).ref.categories.get(request.match_info["code"])
    if category is None:
        raise NotFound(f"service_code {request.match_info['code']!r} not found")
    return _respond(request, "service_definition", open311.definition(category))


def _agency(rt: http.Runtime, incident: Incident | None) -> str | None:
    squad = rt.ref.squads.get(incident.squad_id or "") if incident is not None else None
    return squad.name if squad is not None else None


def _request_json(rt: http.Runtime, incident: Incident, target: Incident | None) -> dict[str, Any]:
    category = rt.ref.categories.get(incident.category)
    return open311.request_json(
        incident,
        rt.settings.zone,
        service_name=category.name if category is not None else None,
        agency=_agency(rt, target if target is not None else incident),
        target=target,
    )


async def _form(request: web.Request) -> Any:
    """The posted form, or BadRequest when it cannot be read: bytes that are not in its
    charset, an unknown charset, a multipart body without its boundary or with a broken part."""
    try:
        return await request.post()
    except (ValueError, LookupError, RuntimeError, HttpProcessingError) as exc:
        # (UnicodeDecodeError is a ValueError; aiohttp raises RuntimeError for an unknown
        # transfer encoding of a part)
        raise BadRequest(f"the form cannot be read: {exc}") from None


@_open311
async def post_request(request: web.Request) -> web.Response:
    form = await _form(request)
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    _jurisdiction(request, params)
    who = await _caller(request, params, INTAKE)
    rt = http.runtime(request)
    wanted = open311.parse_request(params, rt.ref.categories)
    try:
        report = parse_report_object(wanted.report)
    except DispatchError as exc:
        raise BadRequest(exc.message, field=exc.field) from None
    await rt.limiter.take(device_key(who, report.device_id))
    extra: dict[str, Any] = {"open311": wanted.attributes}
    if "target_name" in wanted.attributes:
        extra["target_name"] = wanted.attributes["target_name"]
    try:
        incident, created = await cases.intake(rt, report, who, extra)
    except DispatchError as exc:
        if exc.status == 422:  # a place or category intake refuses: GeoReport's 400
            raise BadRequest(exc.message, field=exc.field) from None
        raise
    target = (
        await store.get_incident(rt.pool, incident.duplicate_of) if incident.duplicate_of else None
    )
    answer = {
        "service_request_id": incident.id,
        "service_notice": open311.service_notice(incident, _agency(rt, target or incident)),
        "account_id": None,
    }
    return _respond(request, "service_requests", [answer], 201 if created else 200)


async def _requests(rt: http.Runtime, query: open311.RequestQuery) -> list[dict[str, Any]]:
    status = query.statuses[0] if len(query.statuses) == 1 else None
    rows = await rt.pool.fetch(
        SELECT_REQUESTS,
        list(query.ids),
        list(query.codes),
        query.start,
        query.end,
        status,
        open311.MAX_REQUESTS,
    )
    return [
        _request_json(
            rt,
            store.decode_doc(r["doc"]),
            store.decode_doc(r["target"]) if r["target"] is not None else None,
        )
        for r in rows
    ]


@_open311
async def get_requests(request: web.Request) -> web.Response:
    _jurisdiction(request, request.query)
    await _caller(request, request.query, READ_ALL | {Role.DEVICE})
    rt = http.runtime(request)
    query = open311.parse_query(request.query, datetime.now(UTC))
    return _respond(request, "service_requests", await _requests(rt, query))


@_open311
async def get_request(request: web.Request) -> web.Response:
    _jurisdiction(request, request.query)
    await _caller(request, request.query, READ_ALL | {Role.DEVICE})
    rt = http.runtime(request)
    found = await _requests(rt, open311.RequestQuery(ids=(request.match_info["id"],)))
    if not found:
        raise NotFound(f"service_request_id {request.match_info['id']!r} not found")
    return _respond(request, "service_requests", found)


@_open311
async def not_found(request: web.Request) -> web.Response:
    raise NotFound(f"no such GeoReport v2 resource: {request.path}")


def add_routes(router: web.UrlDispatcher) -> None:
    fmt = "{fmt:(json|xml)}"
    router.add_get(f"{BASE}/services.{fmt}", get_services)
    router.add_get(f"{BASE}/services/{{code}}.{fmt}", get_service)
    router.add_post(f"{BASE}/requests.{fmt}", post_request)
    router.add_get(f"{BASE}/requests.{fmt}", get_requests)
    router.add_get(f"{BASE}/requests/{{id}}.{fmt}", get_request)
    router.add_route("*", BASE + "/{tail:.*}", not_found)
