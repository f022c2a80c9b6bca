"""What every HTTP handler shares: the per-application :class:`Runtime`, the caller, and JSON.

Handlers reach the runtime with :func:`runtime` and the authenticated caller with
:func:`principal`; they answer with :func:`json_response` or raise a ``DispatchError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from dispatcher.core import jsontext
from dispatcher.core.auth import Principal
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import DispatchError, Unauthorized
from dispatcher.core.holidays import HolidayBook
from dispatcher.core.intake import IntakePolicy
from dispatcher.settings import Settings
from dispatcher.store import calendar, journal, reference
from dispatcher.store.changes import Changes
from dispatcher.store.people import PeopleBook, Session, SessionBook
from dispatcher.store.timer_loop import TimerLoop
from dispatcher.store.tokens import TokenBook
from dispatcher.web.guard import AuthGuard
from dispatcher.web.metrics import Metrics
from dispatcher.web.outbox import Outbox
from dispatcher.web.ratelimit import RateLimiter
from dispatcher.web.tickets import TicketBook
from realtime.bridge import Bridge
from realtime.hub import Hub
from realtime.positions import Positions
from realtime.ws import Endpoint

log = logging.getLogger(__name__)


class ReferenceData:
    """This process's snapshot of squads, zones and categories, rebuilt when they change.

    ``loaded`` is told of every snapshot, the first included (the clock rules take the
    categories' own stage limits from it).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        current: reference.Reference,
        loaded: Callable[[reference.Reference], object] = lambda ref: None,
    ) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        self._loaded = loaded
        self.current = current
        loaded(current)

    async def reload(self) -> None:
        """Swap in a fresh snapshot. Reloads run one at a time, each reading the database
        when it starts, so the last to finish is the newest: a slow reload that read before a
        change can never overwrite a faster one that read after it."""
        async with self._lock:
            self.current = await reference.load(self._pool)
            self._loaded(self.current)
        ref = self.current
        log.info(
            "reference data loaded: %d zones (version %d), %d squads, %d categories",
            len(ref.zones.zones),
            ref.zone_version,
            len(ref.squads),
            len(ref.categories),
        )


class ClockRules:
    """The rules this process's clocks count by, and the holidays behind them: an operator
    may enter a year's notice while it runs, and every part reads :attr:`rules` when it
    decides."""

    def __init__(self, pool: asyncpg.Pool, book: HolidayBook, policy: IntakePolicy) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        #: entered years over the package's, over the statutory holidays
        self.book = book
        self.policy = policy

    @property
    def rules(self) -> Rules:
        return self.policy.rules

    def use(self, book: HolidayBook) -> Rules:
        """Make ``book`` the holidays of every clock of this process; answer the new rules.

        Intake, actions and the timers read the rules when they decide, so what they decide
        from now on counts the new holidays. Deadlines and timers already stored are counted
        again once for the deployment by the process that took the change
        (``dispatcher.store.reclock``), not here in every process.
        """
        rules = replace(self.rules, calendar=self.rules.calendar.with_workdays(book.is_workday))
        self.book = book
        self.policy = replace(self.policy, rules=rules)
        return rules

    def use_catalogue(self, ref: reference.Reference) -> Rules:
        """Make the catalogue's own stage limits (each category's ``stage_limits``) those of
        every clock of this process; answer the new rules. Stage deadlines are counted when
        asked, so what is armed from now on counts them; a timer armed earlier that falls due
        before its stage's new limit is armed again by the timer loop."""
        own = {code: category.own_stage_limits for code, category in ref.categories.items()}
        rules = replace(self.rules, stages=self.rules.stages.with_categories(own))
        self.policy = replace(self.policy, rules=rules)
        return rules

    async def reload(self) -> Rules:
        """Read the entered years and use them (:meth:`use`); answer the rules.

        One reload at a time, each reading when it starts, so the last to finish is the
        newest. A book equal to the one in use changes nothing (the calendar keeps its
        per-date windows).
        """
        async with self._lock:
            book = await calendar.load_book(self._pool)
            if book == self.book:
                return self.rules
            rules = self.use(book)
        log.info("holiday calendar loaded: %d entered years", len(book.entered))
        return rules


class Control:
    """What a control message does in this process (from this one, or through Redis)."""

    def __init__(
        self,
        reference: ReferenceData,
        clock_rules: ClockRules,
        tokens: TokenBook,
        sessions: SessionBook,
        ws: Endpoint,
    ) -> None:
        self._reference = reference
        self._clock_rules = clock_rules
        self._tokens = tokens
        self._sessions = sessions
        self._ws = ws

    async def apply(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "reference.changed":
            await self._reference.reload()
        elif kind == "calendar.changed":
            await self._clock_rules.reload()
        elif kind == "token.revoked":
            token_id = str(message.get("id"))
            self._tokens.forget(token_id)
            await self._ws.close_token(token_id)
        elif kind == "person.changed":
            person_id = str(message.get("id"))
            self._sessions.forget(person_id)
            await self._ws.close_token(person_id)


@dataclass
class Runtime:
    """The one container of what requests and background tasks use, owned by one
    application and built in order by ``app.runtime_ctx`` (no part waits for a later one)."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    hub: Hub
    bridge: Bridge
    endpoint: Endpoint
    writer: journal.IntakeWriter
    tokens: TokenBook
    #: the people who sign in to the pages, and their sessions
    people: PeopleBook
    sessions: SessionBook
    #: one-time tickets for ``/ws`` (Redis)
    tickets: TicketBook
    guard: AuthGuard
    metrics: Metrics
    reference_data: ReferenceData
    clock_rules: ClockRules
    control: Control
    timer_loop: TimerLoop
    #: the one path for every change of an incident (``dispatcher.store.changes``)
    changes: Changes
    #: units' live positions (Redis) and their fan-out to consoles
    positions: Positions
    #: each device's rate of reports (``DISPATCH_DEVICE_RATE``)
    limiter: RateLimiter
    #: the hotline's status updates; None when no callback URL is set (they wait in the table)
    outbox: Outbox | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: what "now" is for the calendar's coverage warning and for who is on duty (勤务)
    #: (tests give a fixed instant)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def ref(self) -> reference.Reference:
        """Squads, zones and categories as this process has them now."""
        return self.reference_data.current

    @property
    def policy(self) -> IntakePolicy:
        return self.clock_rules.policy

    @property
    def book(self) -> HolidayBook:
        return self.clock_rules.book

    async def reload_reference(self) -> None:
        await self.reference_data.reload()

    def use_calendar(self, book: HolidayBook) -> Rules:
        return self.clock_rules.use(book)

    async def reload_calendar(self) -> Rules:
        return await self.clock_rules.reload()

    async def announce(self, message: dict[str, Any]) -> None:
        """Apply a change here at once, then tell every other process."""
        await self.control.apply(message)
        await self.bridge.control(message)


RUNTIME: Final = web.AppKey("runtime", Runtime)
PRINCIPAL: Final = web.RequestKey("principal", Principal)
#: the session of a caller who signed in (absent for a bearer token or a ticket)
SESSION: Final = web.RequestKey("session", Session)
SETTINGS: Final = web.AppKey("settings", Settings)


class Runs(Protocol):
    """A background loop: runs until cancelled."""

    async def run(self) -> None: ...


R = TypeVar("R", bound=Runs)


def background(
    key: web.AppKey[R], make: Callable[[Runtime], R]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` that runs ``make(runtime)``'s loop in this process once the runtime is
    built (kept under ``key``), and cancels it at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        loop = make(app[RUNTIME])
        app[key] = loop
        task = asyncio.get_running_loop().create_task(loop.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def client_address(request: web.Request) -> str:
    """Who is calling: the peer, or behind a trusted proxy the first X-Forwarded-For hop."""
    if request.app[SETTINGS].trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


def principal(request: web.Request) -> Principal:
    """The authenticated caller (set by :func:`auth_middleware`)."""
    found: Principal | None = request.get(PRINCIPAL)
    if found is None:
        raise Unauthorized("a bearer token is needed")
    return found


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=jsontext.loose_bytes(data),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(error: DispatchError) -> web.Response:
    headers = {}
    retry = getattr(error, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry)))
    return json_response(error.body(), status=error.status, headers=headers)
