"""The centre's people at work in the demo: squads sign for, resolve with photos, return and ask
for more time; the operator registers, dispatches, verifies and approves; the 12345 platform
rings callers back (回访). Everything goes through the HTTP API with each one's own token, as a
squad's phone would; what to do next is :func:`dispatcher.demo.day.next_step`'s.

``speed`` compresses the simulated time: at 60 a case signed for eight simulated minutes after
its dispatch is signed for eight real seconds after. A case left lying (a step noted ``late``)
waits in real time whatever the speed, so that it runs past its limit on the server's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp

from dispatcher.demo.day import CST, Actor, Step, case_rng, jpeg, next_step

log = logging.getLogger(__name__)

OPERATOR_STATES: Final = "reported,registered,returned,resolved"
SQUAD_STATES: Final = "dispatched,accepted"


@dataclass(frozen=True)
class Crew:
    """The tokens the simulated people act with."""

    operator: str
    #: the token that files the reports (also the 12345 platform's: it rings back its orders)
    device: str
    #: each squad's phone, by squad id
    squads: dict[str, str]


@dataclass
class _Plan:
    version: int
    due: float
    step: Step
    case: dict[str, Any]


class Workday:
    """Polls the open cases and takes each one's next step when it falls due."""

    def __init__(
        self, base_url: str, crew: Crew, *, speed: float = 1.0, seed: int = 5, workers: int = 8
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.base = base_url.rstrip("/")
        self.crew = crew
        self.speed = speed
        self.seed = seed
        self._plans: dict[str, _Plan] = {}
        self._visited: set[tuple[str, str]] = set()
        self._closed_since: datetime | None = None
        self._photos = random.Random(seed)
        self._slots = asyncio.Semaphore(workers)
        self._started = (datetime.now(CST), time.monotonic())
        #: steps taken, by action (for the log and the tests)
        self.taken: dict[str, int] = {}

    def simulated(self, clock: float) -> datetime:
        """The simulated local time at the monotonic instant ``clock``."""
        wall, mono = self._started
        return wall + timedelta(seconds=(clock - mono) * self.speed)

    def _token(self, actor: Actor, case: dict[str, Any]) -> str:
        if actor is Actor.SQUAD:
            return self.crew.squads.get(str(case.get("squad_id")), self.crew.operator)
        if actor is Actor.PLATFORM:
            return self.crew.device
        return self.crew.operator

    async def _list(
        self, session: aiohttp.ClientSession, token: str, query: dict[str, str]
    ) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/incidents"
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(url, params={**query, "limit": "1000"}, headers=headers) as resp:
            if resp.status != 200:
                log.warning("listing %s answered %s", query, resp.status)
                return []
            found: list[dict[str, Any]] = (await resp.json())["incidents"]
            return found

    async def poll(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """The cases someone has something to do with, as the API answers them now."""
        cases = await self._list(session, self.crew.operator, {"state": OPERATOR_STATES})
        for squad_id, token in self.crew.squads.items():
            query = {"state": SQUAD_STATES, "squad_id": squad_id}
            cases.extend(await self._list(session, token, query))
        query = {"state": "closed"}
        if self._closed_since is not None:
            query["since"] = self._closed_since.isoformat()
        closed = await self._list(session, self.crew.operator, query)
        for case in closed:
            updated = datetime.fromisoformat(str(case["updated_at"]))
            if self._closed_since is None or updated > self._closed_since:
                self._closed_since = updated
            if case.get("source") != "hotline":
                continue
            case["visited"] = (case["id"], str(case.get("closed_at"))) in self._visited
            cases.append(case)
        return cases

    def plan(self, cases: list[dict[str, Any]], now: float) -> None:
        """Decide each case's next step once per version of it."""
        for case in cases:
            known = self._plans.get(case["id"])
            version = int(case.get("version", 0))
            if known is not None and known.version == version:
                continue
            hour = self.simulated(now).hour
            step = next_step(case_rng(self.seed, case["id"], version), case, hour)
            if step is None:
                self._plans.pop(case["id"], None)
                continue
            wait = step.delay_s if "late" in step.notes else step.delay_s / self.speed
            self._plans[case["id"]] = _Plan(version, now + wait, step, case)

    def due(self, now: float) -> list[_Plan]:
        """Take the plans due by ``now`` out of the book."""
        ready = [p for p in self._plans.values() if p.due <= now]
        for p in ready:
            p.due = float("inf")  # taken: not again until the case changes
        return ready

    async def take(self, session: aiohttp.ClientSession, plan: _Plan) -> None:
        """Take one step through the API (its photo first); a refusal is logged and dropped."""
        async with self._slots:
            case, step = plan.case, plan.step
            token = self._token(step.actor, case)
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{self.base}/api/v1/incidents/{case['id']}"
            body = dict(step.body)
            try:
                if step.photo:
                    photo = jpeg(self._photos)
                    media_headers = {**headers, "Content-Type": "image/jpeg"}
                    async with session.post(f"{url}/media", data=photo, headers=media_headers) as r:
                        if r.status == 201:
                            body["media"] = [(await r.json())["url"]]
                async with session.post(f"{url}/{step.path}", json=body, headers=headers) as r:
                    if r.status >= 400:
                        log.info("%s on %s answered %s", body["action"], case["id"], r.status)
                        if step.path == "hotline":
                            self._visited.add((case["id"], str(case.get("closed_at"))))
                        return
                    answer = await r.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("%s on %s failed: %r", body["action"], case["id"], exc)
                return
            self.taken[body["action"]] = self.taken.get(body["action"], 0) + 1
            if step.path == "hotline":
                self._visited.add((case["id"], str(case.get("closed_at"))))
            if step.then is not None:
                then = step.then
                version = int(answer.get("version", plan.version + 1))
                self._plans[case["id"]] = _Plan(
                    version, time.monotonic() + then.delay_s / self.speed, then, answer
                )

    async def run(self, stop: asyncio.Event, poll_s: float = 2.0) -> None:
        """Work until ``stop`` is set."""
        timeout = aiohttp.ClientTimeout(total=15)
        running: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                try:
                    self.plan(await self.poll(session), time.monotonic())
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("polling the cases failed: %r", exc)
                for plan in self.due(time.monotonic()):
                    task = asyncio.create_task(self.take(session, plan))
                    running.add(task)
                    task.add_done_callback(running.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
