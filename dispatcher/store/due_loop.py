"""What every loop of due work shares: fire what is due, then sleep until the next is.

The timer loop (incidents' warnings), the supervision items' warnings and any other record
with a due instant run the same loop in every server process: take what is due with
``FOR UPDATE SKIP LOCKED`` (so each fires once across processes), write it through the one
change path, then sleep until the next due instant, at most ``idle_s``, or until :attr:`wake`
is set by a change that armed something nearer. A subclass says what is due
(:meth:`DueLoop.run_once`) and when the next is (its ``next_due`` query).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime

from dispatcher.store import records as store

log = logging.getLogger(__name__)


class DueLoop(ABC):
    """Fires due work until cancelled; one per process and kind of work, sharing it."""

    #: what the log calls this loop
    name = "due loop"
    #: ``SELECT min(due_at) ...``: the next instant something falls due (NULL: nothing)
    next_due_query: str = ""

    def __init__(
        self,
        pool: store.Pool,
        *,
        batch: int,
        idle_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: asyncio.Event | None = None,
    ) -> None:
        self._pool = pool
        self._batch = batch
        self._idle_s = idle_s
        self._clock = clock
        #: set after a change that armed a nearer due instant, so the loop does not oversleep
        self.wake = wake if wake is not None else asyncio.Event()

    @abstractmethod
    async def run_once(self) -> int:
        """Fire what is due now; answer how many were taken."""

    async def run(self) -> None:
        while True:
            try:
                fired = await self.run_once()
            except Exception as exc:
                log.warning("the %s failed: %s", self.name, exc)
                fired = 0
            if fired >= self._batch:
                continue  # more are due: no sleep
            await self._sleep()

    async def _sleep(self) -> None:
        wait = self._idle_s
        try:
            next_due = await self._pool.fetchval(self.next_due_query)
            if next_due is not None:
                wait = min(wait, max(0.0, (next_due - self._clock()).total_seconds()))
        except Exception as exc:
            log.debug("the %s could not read its next due instant: %s", self.name, exc)
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=wait)
