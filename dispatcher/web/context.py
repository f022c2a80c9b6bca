"""What every HTTP handler shares: the per-application :class:`Runtime`, the caller, and JSON.

Handlers reach the runtime with :func:`runtime` and the authenticated caller with
:func:`principal`; they answer with :func:`json_response` or raise a ``DispatchError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

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
from dispatcher.store.timer_loop import TimerLoop
from dispatcher.store.tokens import TokenBook
from dispatcher.web.guard import AuthGuard
from dispatcher.web.metrics import Metrics
from realtime.bridge import Bridge
from realtime.hub import Hub
from realtime.positions import Positions
from realtime.ws import Endpoint

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request may need, owned by one application."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    hub: Hub
    bridge: Bridge
    endpoint: Endpoint
    writer: journal.IntakeWriter
    tokens: TokenBook
    guard: AuthGuard
    metrics: Metrics
    policy: IntakePolicy
    ref: reference.Reference
    timer_loop: TimerLoop
    #: the one path for every change of an incident (``dispatcher.store.changes``)
    changes: Changes
    #: units' live positions (Redis) and their fan-out to consoles
    positions: Positions
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: the holidays this process's clocks count: entered years over the package's, over the
    #: statutory holidays (``rules.calendar`` answers from it)
    book: HolidayBook = field(default_factory=HolidayBook)
    calendar_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: what "now" is for the calendar's coverage warning (tests give a fixed instant)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def reload_reference(self) -> None:
        """Swap in a fresh snapshot. Reloads run one at a time, each reading the database
        when it starts, so the last to finish is the newest: a slow reload that read before a
        change can never overwrite a faster one that read after it."""
        async with self.reload_lock:
            self.ref = await reference.load(self.pool)
        log.info(
            "reference data loaded: %d zones (version %d), %d squads, %d categories",
            len(self.ref.zones.zones),
            self.ref.zone_version,
            len(self.ref.squads),
            len(self.ref.categories),
        )

    def use_calendar(self, book: HolidayBook) -> Rules:
        """Make ``book`` the holidays of every clock of this process; answer the new rules.

        Intake, actions and the timers read ``policy.rules`` when they decide, so what they
        decide from now on counts the new holidays. Deadlines and timers already stored are
        not moved: recomputing the running incidents with the answer is the caller's job, once
        for the deployment (not in every process).
        """
        rules = replace(
            self.policy.rules, calendar=self.policy.rules.calendar.with_workdays(book.is_workday)
        )
        self.book = book
        self.policy = replace(self.policy, rules=rules)
        return rules

    async def reload_calendar(self) -> Rules:
        """Read the entered years and use them (:meth:`use_calendar`); answer the rules.

        One reload at a time, each reading when it starts, so the last to finish is the
        newest. A book equal to the one in use changes nothing (the calendar keeps its
        per-date windows).
        """
        async with self.calendar_lock:
            book = await calendar.load_book(self.pool)
            if book == self.book:
                return self.policy.rules
            rules = self.use_calendar(book)
        log.info("holiday calendar loaded: %d entered years", len(book.entered))
        return rules

    async def announce(self, message: dict[str, Any]) -> None:
        """Apply a change here at once, then tell every other process."""
        await self.on_control(message)
        await self.bridge.control(message)

    async def on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "reference.changed":
            await self.reload_reference()
        elif kind == "calendar.changed":
            await self.reload_calendar()
        elif kind == "token.revoked":
            token_id = str(message.get("id"))
            self.tokens.forget(token_id)
            await self.endpoint.close_token(token_id)


RUNTIME: Final = web.AppKey("runtime", Runtime)
PRINCIPAL: Final = web.RequestKey("principal", Principal)
SETTINGS: Final = web.AppKey("settings", Settings)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


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
