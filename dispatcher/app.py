"""The aiohttp application: wiring, middleware and the route table.

``create_app(settings)`` builds everything explicitly: the PostgreSQL pool, Redis, the hub and
its bridge, the intake writer and the reference snapshot live in one :class:`Runtime` under an
``AppKey``, created and closed by ``cleanup_ctx``. HTTP statuses of errors are chosen in one
place, :func:`error_middleware`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from dispatcher import __version__
from dispatcher.core import alarms, cap
from dispatcher.core.auth import Principal, may_subscribe
from dispatcher.core.clocks import ClockKind, Season, WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import (
    BadRequest,
    DispatchError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from dispatcher.core.holidays import HolidayBook
from dispatcher.core.incidents import Source
from dispatcher.core.intake import IntakePolicy
from dispatcher.core.request_types import HotlineLimits
from dispatcher.core.stages import Stage, StageLimit, StageLimits
from dispatcher.core.thresholds import Thresholds
from dispatcher.core.workorder import HotlineRules
from dispatcher.settings import Settings
from dispatcher.store import journal, reference, supervision, vicinity
from dispatcher.store import records as store
from dispatcher.store.breach_watch import BreachWatch
from dispatcher.store.calendar import load_book
from dispatcher.store.changes import Changes
from dispatcher.store.people import PeopleBook, SessionBook
from dispatcher.store.timer_loop import TimerLoop
from dispatcher.store.tokens import TokenBook
from dispatcher.web import (
    api_actions,
    api_calendar,
    api_campaigns,
    api_channels,
    api_devices,
    api_duty,
    api_enforcement,
    api_handovers,
    api_history,
    api_hotline,
    api_incidents,
    api_inspections,
    api_media,
    api_people,
    api_places,
    api_reference,
    api_sampling,
    api_stats,
    api_supervision,
    api_thresholds,
    api_tokens,
    api_units,
    checkpointer,
    isapi_alarm,
    openapi,
    scrape,
)
from dispatcher.web.context import (
    PRINCIPAL,
    RUNTIME,
    SESSION,
    SETTINGS,
    ClockRules,
    Control,
    ReferenceData,
    Runtime,
    client_address,
    error_response,
    json_response,
    principal,
    runtime,
)
from dispatcher.web.guard import AuthGuard
from dispatcher.web.metrics import Metrics
from dispatcher.web.outbox import Outbox
from dispatcher.web.ratelimit import RateLimiter
from dispatcher.web.tickets import TicketBook
from realtime.bridge import Bridge
from realtime.hub import Envelope, Hub
from realtime.positions import Positions
from realtime.ws import Client, Endpoint

log = logging.getLogger(__name__)

#: how long shutdown waits for the background tasks it cancelled
SHUTDOWN_TASKS_S: Final = 10.0
#: what a server takes as now for the calendar's coverage (``create_app``'s ``clock``)
CLOCK: Final = web.AppKey[Callable[[], datetime]]("clock")
#: an installed package carries the console as package data (dispatcher/frontend, pyproject.toml's
#: package-dir); a source tree (an editable install, the tests) has it beside the package
FRONTEND_DIR: Final = next(
    (d / "frontend" for d in Path(__file__).resolve().parents[:2] if (d / "frontend").is_dir()),
    Path(__file__).resolve().parent / "frontend",
)
#: signing in: the one /api/v1 route open to anyone (its handler guards it)
SIGN_IN_PATH: Final = "/api/v1/session"
#: the OpenAPI document: the other /api/v1 route open to anyone (its viewer is /api/docs)
OPENAPI_PATH: Final = "/api/v1/openapi.json"
#: methods that change nothing: a cookie request of any other needs the CSRF token
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: the one route whose bodies may be larger than ``Settings.max_body_bytes``
ZONES_PATH: Final = "/api/v1/zones"
#: statuses answered by aiohttp itself, re-worded in our error format
_HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
#: what a dead or unreachable PostgreSQL raises
DATABASE_DOWN: Final = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes ``{"error": {...}}`` with its status; a dead database is a 503."""
    metrics = request.app[RUNTIME].metrics if RUNTIME in request.app else None
    started = time.perf_counter()
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except DispatchError as exc:
        status = exc.status
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        status = 413
        return error_response(PayloadTooLarge("the body is larger than 1 MiB"))
    except web.RequestPayloadError as exc:
        # the body does not follow its Content-Encoding (or its chunking): the HTTP parser
        # lost its place in the stream, so the connection cannot carry another request
        status = 400
        reason = getattr(exc.__cause__, "message", None) or "malformed"
        response = error_response(BadRequest(f"the body cannot be read: {reason}"))
        response.force_close()
        return response
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        err = DispatchError(exc.reason, code=code)
        err.status = exc.status
        return error_response(err)
    except asyncpg.DataError as exc:
        # a value PostgreSQL cannot take (NUL in text, out of range): the input's fault
        status = 422
        return error_response(ValidationFailed(f"a value cannot be stored: {exc}"))
    except DATABASE_DOWN as exc:
        status = 503
        log.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
        return error_response(Unavailable("the database is unavailable; retry shortly"))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        err = DispatchError("internal error")
        return error_response(err)
    finally:
        if metrics is not None:
            metrics.requests.labels(request.method, name, str(status)).inc()
            metrics.latency.labels(name).observe(time.perf_counter() - started)


def bearer(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer``; never one in the URL (v1's ``access_token`` on
    ``/ws`` is withdrawn: pages use a one-time ticket, :mod:`dispatcher.web.tickets`)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def with_scope(who: Principal, rt: Runtime) -> Principal:
    """The principal with the squads it answers for, as this process's snapshot has them."""
    if who.squad_id is None:
        return who
    return replace(who, scope=rt.ref.scope(who.squad_id))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/api/v1`` and ``/ws`` need a caller (docs/API.md §2): a bearer token, a person's
    session cookie, or on ``/ws`` a one-time ticket; guessing is slowed. A changing request
    made with the cookie must carry the session's CSRF token, and ``/ws`` with the cookie must
    come from the server's own pages (its Origin)."""
    if not (request.path.startswith("/api/v1") or request.path == "/ws"):
        return await handler(request)
    if request.method == "POST" and request.path == SIGN_IN_PATH:
        return await handler(request)  # signing in is guarded by its handler
    if request.method in SAFE_METHODS and request.path == OPENAPI_PATH:
        return await handler(request)  # the interface's description holds no secret
    rt = runtime(request)
    address = client_address(request)
    await rt.guard.check(address)
    secret = bearer(request)
    ticket = request.query.get("ticket") if request.path == "/ws" else None
    cookie = request.cookies.get(api_people.COOKIE)
    if secret is None and not ticket and not cookie:
        raise Unauthorized("a bearer token, a signed-in session (or on /ws, a ticket) is needed")
    try:
        if secret is not None:
            who = await rt.tokens.authenticate(secret)
        elif ticket:
            who = await rt.tickets.redeem(ticket)
        else:
            assert cookie is not None
            session = await rt.sessions.find(cookie, datetime.now(UTC))
            request[SESSION] = session
            who = session.principal()
            _check_cookie_request(request, session.csrf_token)
    except Unauthorized:
        await rt.guard.failed(address)
        raise
    request[PRINCIPAL] = with_scope(who, rt)
    return await handler(request)


def _check_cookie_request(request: web.Request, csrf_token: str) -> None:
    """Refuse what a page of another site could make a browser send with the cookie."""
    if request.path == "/ws":
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise Forbidden("a WebSocket with the session cookie must come from these pages")
    elif request.method not in SAFE_METHODS:
        given = request.headers.get(api_people.CSRF_HEADER, "")
        if not secrets.compare_digest(given.encode(), csrf_token.encode()):
            raise Forbidden(
                f"a changing request with the session cookie needs {api_people.CSRF_HEADER}",
                code="csrf",
            )


async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    rt = runtime(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(1.0):
            await rt.pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except (*DATABASE_DOWN, asyncpg.PostgresError) as exc:
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        async with asyncio.timeout(1.0):
            await rt.redis.ping()
        checks["redis"] = "ok"
    except (RedisError, OSError, TimeoutError) as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    # a detail, not a condition: a calendar running out is the operators' to fix, and a
    # server that cannot take traffic for it would only make things worse
    calendar = api_calendar.coverage(rt)
    detail = {k: calendar.to_json()[k] for k in ("covered_until", "covered_days", "covered")}
    return json_response({"ready": ok, **checks, "calendar": detail}, status=200 if ok else 503)


async def metrics_handler(request: web.Request) -> web.Response:
    if not scrape.may_scrape(scrape.peer_address(request), request.app[SETTINGS].metrics_networks):
        raise Forbidden("/metrics is for loopback and DISPATCH_METRICS_NETWORKS")
    rt = runtime(request)
    rt.metrics.ws_connections.set(rt.endpoint.connections)
    rt.metrics.ws_drops.set(rt.endpoint.slow_drops)
    rt.metrics.events_delivered.set(rt.hub.delivered)
    rt.metrics.last_seq.set(rt.hub.last_seq)
    rt.metrics.redis_ok.set(1 if rt.bridge.redis_ok else 0)
    api_calendar.coverage(rt)  # sets dispatch_calendar_covered_days
    return web.Response(body=rt.metrics.render(), content_type="text/plain", charset="utf-8")


async def ws_handler(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    rt = runtime(request)
    client = Client(
        str(who.token_id),
        lambda topic: may_subscribe(who, topic),
        on_message=api_units.socket_hook(rt, who),
    )
    return await rt.endpoint.serve(request, client)


async def index(_: web.Request) -> web.StreamResponse:
    page = FRONTEND_DIR / "index.html"
    if not page.exists():
        raise NotFound("the console is not built")
    return web.FileResponse(page)


def add_routes(app: web.Application) -> None:
    """The one route table."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/", index)
    api_incidents.add_routes(app.router)
    api_actions.add_routes(app.router)
    api_reference.add_routes(app.router)
    api_tokens.add_routes(app.router)
    api_people.add_routes(app.router)
    api_history.add_routes(app.router)
    api_media.add_routes(app)
    checkpointer.add_routes(app)
    api_channels.add_routes(app.router)
    api_hotline.add_routes(app.router)
    api_units.add_routes(app.router)
    api_stats.add_routes(app.router)
    api_thresholds.add_routes(app.router)
    api_sampling.add_routes(app.router)
    api_calendar.add_routes(app.router)
    api_supervision.add_routes(app)
    api_enforcement.add_routes(app)
    api_duty.add_routes(app.router)
    api_handovers.add_routes(app.router)
    api_places.add_routes(app.router)
    api_inspections.add_routes(app)
    api_campaigns.add_routes(app.router)
    api_devices.add_routes(app)
    isapi_alarm.add_routes(app.router)
    openapi.add_routes(app.router)
    if FRONTEND_DIR.is_dir():
        app.router.add_static("/static/", FRONTEND_DIR, follow_symlinks=False)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: nothing to undo.

    asyncpg rolls back a transaction left open either way; its default reset would also run
    ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on every release, a round
    trip for state this server never leaves on a pooled connection (its advisory locks are
    transaction-scoped, its settings ``SET LOCAL``, its cursors inside transactions, and it
    listens through Redis).
    """


def hotline_limits(settings: Settings) -> HotlineLimits:
    """The 12345 hotline's limit of each request type, as the deployment set them."""
    return HotlineLimits(**settings.hotline_limits.as_dict())


def hotline_rules(settings: Settings) -> HotlineRules:
    """The deployment's 12345 接诉即办 rules: contact hours, 退单 window, 满意率."""
    return HotlineRules(
        contact_hours=settings.hotline_contact_hours,
        sendback_hours=settings.hotline_sendback_hours,
        basically_counts=settings.hotline_basically_satisfied,
    )


def breach_watch(rt: Runtime) -> BreachWatch:
    """The watch that opens a supervision item for each new breach of a threshold."""
    settings = rt.settings
    return BreachWatch(
        rt.pool,
        rt.changes,
        lambda: rt.ref,
        Thresholds.from_entries(settings.thresholds.entries),
        settings.supervision_days.as_dict(),
        settings.zone,
        min_cases=settings.breach_min_cases,
        interval_s=settings.breach_check_minutes * 60,
        weights=settings.score_weights.as_dict(),
        clock=rt.clock,
    )


def stage_limits(settings: Settings) -> StageLimits:
    """The deployment's stage limits: CJ/T 315 practice, and the 12345 hotline's (settings);
    the categories' own come with the catalogue (``ClockRules.use_catalogue``)."""
    hotline = {
        Stage(stage): StageLimit(ClockKind(clock), limit)
        for stage, clock, limit in settings.stage_limits_hotline.limits
    }
    return StageLimits(by_source={Source.HOTLINE.value: hotline})


def working_calendar(settings: Settings, book: HolidayBook) -> WorkingCalendar:
    """The deployment's working calendar: its zone and working windows (settings) and its
    holidays (``book``)."""
    seasonal = settings.work_windows_seasonal
    return WorkingCalendar(
        tz=settings.zone,
        windows=settings.work_windows.windows,
        seasons=tuple(
            Season(first, last, windows.windows)
            for first, last, windows in (seasonal.seasons if seasonal else ())
        ),
        is_workday=book.is_workday,
    )


async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create the runtime (pool, Redis, hub, bridge, writer), run its tasks, close it all."""
    settings = app[SETTINGS]
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=2,
        max_size=20,
        reset=_keep_session,
        command_timeout=30,
        server_settings={"timezone": "UTC"},
    )
    assert pool is not None
    redis = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        await reference.ensure_default_categories(pool)
        hub = Hub(await store.max_seq(pool))
        metrics = Metrics()
        book = await load_book(pool)
        # built in order, each part from those before it: what changes at run time (the
        # reference data, the holidays) is a service of its own that the parts ask
        clock_rules = ClockRules(
            pool,
            book,
            IntakePolicy(
                Rules(
                    working_calendar(settings, book),
                    stage_limits(settings),
                    hotline_limits=hotline_limits(settings),
                    hotline=hotline_rules(settings),
                    escalation_step=settings.escalation_step,
                ),
                settings.auto_dispatch_confidence,
            ),
        )
        reference_data = ReferenceData(pool, await reference.load(pool), clock_rules.use_catalogue)
        tokens = TokenBook(pool, settings.admin_token)
        people = PeopleBook(pool)
        sessions = SessionBook(pool, timedelta(hours=settings.session_hours))
        tickets = TicketBook(redis, tokens, people)
        endpoint = Endpoint(
            hub,
            lambda a, u, t, n: store.read_range(pool, a, u, topics=list(t), limit=n),
            queue_size=settings.ws_queue_size,
            heartbeat_s=settings.ws_heartbeat_s,
        )
        control = Control(reference_data, clock_rules, tokens, sessions, endpoint)

        async def read_range(after: int, upto: int, limit: int) -> list[Envelope]:
            return await store.read_range(pool, after, upto, limit=limit)

        bridge = Bridge(
            redis, hub, read_range, on_control=control.apply, on_state=endpoint.feed_state
        )

        def current_rules() -> Rules:
            return clock_rules.rules

        # every unit of work that rewrote timers wakes this process's timer loop
        wake_timers = asyncio.Event()
        changes = Changes(pool, current_rules, bridge.committed, wake_timers.set)
        writer = journal.IntakeWriter(
            pool,
            settings.zone,
            bridge.committed,
            window_s=settings.group_commit_ms / 1000,
            timers=lambda incidents, now: alarms.owed_new(incidents, current_rules(), now),
            collate=vicinity.collator(settings, changes),
            follow=supervision.Opener(current_rules, settings.supervision_days.as_dict()),
        )
        outbox = None
        if settings.hotline_callback_url:
            outbox = Outbox(
                pool,
                settings.hotline_callback_url,
                settings.zone,
                lambda: {s.id: s.name for s in reference_data.current.squads.values()},
                token=settings.hotline_callback_token,
                poll_s=settings.outbox_poll_s,
                retry_base_s=settings.outbox_retry_base_s,
                retry_max_s=settings.outbox_retry_max_s,
            )
        rt = Runtime(
            settings=settings,
            pool=pool,
            redis=redis,
            hub=hub,
            bridge=bridge,
            endpoint=endpoint,
            writer=writer,
            tokens=tokens,
            people=people,
            sessions=sessions,
            tickets=tickets,
            guard=AuthGuard(redis, limit=settings.auth_failures_per_minute),
            metrics=metrics,
            reference_data=reference_data,
            clock_rules=clock_rules,
            control=control,
            timer_loop=TimerLoop(pool, changes, lambda: reference_data.current.squads, wake_timers),
            changes=changes,
            positions=Positions(
                redis,
                hub,
                interval_s=settings.unit_moved_interval_s,
                max_per_s=settings.unit_moved_max_per_s,
            ),
            limiter=RateLimiter(redis, settings.device_rate_per_s, settings.device_burst),
            outbox=outbox,
            clock=app[CLOCK],
        )
        app[RUNTIME] = rt
        loop = asyncio.get_running_loop()
        warned_on = api_calendar.check_coverage(rt, None)  # at start-up, then once a day
        rt.tasks = [
            loop.create_task(bridge.run()),
            loop.create_task(writer.run()),
            loop.create_task(_watch_reference(rt)),
            loop.create_task(api_calendar.watch(rt, warned_on)),
            loop.create_task(rt.timer_loop.run()),
            loop.create_task(rt.positions.run()),
        ]
        if outbox is not None:
            rt.tasks.append(loop.create_task(outbox.run()))
        if settings.breach_check_minutes > 0:
            rt.tasks.append(loop.create_task(breach_watch(rt).run()))
        await asyncio.to_thread(cap.schema)  # read the CAP schema now, not on the first alert
        yield
        for task in rt.tasks:
            task.cancel()
        # A read blocked on a Redis pub/sub socket may not wake for a cancellation: closing
        # the connections under it makes it fail, and the loop then stops. (What the intake
        # writer still commits meanwhile reaches other processes through the history.)
        await redis.connection_pool.disconnect()
        # bounded: a task that swallowed its cancellation must not hold shutdown for ever
        _, stuck = await asyncio.wait(rt.tasks, timeout=SHUTDOWN_TASKS_S)
        for task in stuck:
            log.error("background task %s did not stop within %.0f s", task, SHUTDOWN_TASKS_S)
    finally:
        await redis.aclose()
        await pool.close()


async def _watch_reference(rt: Runtime, every_s: float = 5.0) -> None:
    """Reload the snapshot when the zone version moved and no message said so."""
    while True:
        await asyncio.sleep(every_s)
        try:
            version = int(await rt.pool.fetchval(reference.ZONE_VERSION))
            if version != rt.ref.zone_version:
                await rt.reload_reference()
        except Exception as exc:
            log.warning("checking the zone version failed: %s", exc)


async def _close_websockets(app: web.Application) -> None:
    if RUNTIME in app:
        await app[RUNTIME].endpoint.close_all()


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``PUT /api/v1/zones`` takes a district's whole zone set, often several MiB; every other
    body stays within the application's ``max_body_bytes`` (1 MiB, docs/API.md §4)."""
    if request.method != "PUT" or request.path != ZONES_PATH:
        return await handler(request)
    limit = request.app[SETTINGS].zones_max_body_bytes
    too_large = PayloadTooLarge(f"a zone set is at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        return await handler(request.clone(client_max_size=limit))
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None


def _system_clock() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings, *, clock: Callable[[], datetime] = _system_clock
) -> web.Application:
    """The application; ``clock`` is what it takes as now for the calendar's coverage."""
    app = web.Application(
        middlewares=[error_middleware, auth_middleware, body_limit_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app.cleanup_ctx.append(runtime_ctx)
    app.on_shutdown.append(_close_websockets)
    add_routes(app)
    return app
