"""Three `dispatch serve` processes on one database and Redis; one is killed mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.integration.support import ADMIN, Api, ServeProcess


class RoamingConsole:
    """A console that follows `all`, and on a lost connection moves to the next process."""

    def __init__(self, session: aiohttp.ClientSession, bases: list[str]) -> None:
        self.session = session
        self.bases = bases
        self.events: list[dict[str, Any]] = []
        self.reconnects = 0

    async def run(self, stop: asyncio.Event, start: int) -> None:
        for base in itertools.islice(itertools.cycle(self.bases), start, None):
            if stop.is_set():
                return
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with self.session.ws_connect(
                    base.replace("http", "ws", 1) + "/ws",
                    headers={"Authorization": f"Bearer {ADMIN}"},
                ) as ws:
                    since = self.events[-1]["seq"] if self.events else 0
                    await ws.send_json({"type": "subscribe", "topics": ["all"], "since": since})
                    while not stop.is_set():
                        try:
                            msg = await ws.receive(timeout=0.2)
                        except TimeoutError:
                            continue
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            break
                        data = msg.json()
                        if "seq" in data and "incident" in data:
                            self.events.append(data)
            self.reconnects += 1
            await asyncio.sleep(0.05)


async def test_killing_one_of_three_loses_no_event_for_any_console(
    serve_process: Callable[[], ServeProcess],
) -> None:
    servers = [serve_process() for _ in range(3)]
    async with aiohttp.ClientSession() as session:
        apis = [Api(s.base, session) for s in servers]
        await apis[0].load_town()
        device = await apis[0].token("device")
        stop = asyncio.Event()
        consoles = [RoamingConsole(session, [s.base for s in servers]) for _ in range(6)]
        tasks = [asyncio.create_task(c.run(stop, i % 3)) for i, c in enumerate(consoles)]
        acknowledged: list[str] = []

        async def post(n: int) -> None:
            api = apis[n % 3]
            with contextlib.suppress(aiohttp.ClientError, OSError):
                status, body = await api.report(device, external_id=f"cl-{n}")
                if status in (200, 201):
                    acknowledged.append(body["id"])

        for n in range(100):
            if n == 40:
                servers[1].kill()  # SIGKILL, mid-stream
            await post(n)
            await asyncio.sleep(0.01)
        await asyncio.sleep(2)  # let every console catch up from the survivors
        stop.set()
        await asyncio.gather(*tasks)

    assert len(acknowledged) >= 70  # a third of the posts after the kill went nowhere
    answered = set(acknowledged)
    for console in consoles:
        created = [e["incident"]["id"] for e in console.events if e["type"] == "incident.created"]
        # every acknowledged incident, in the order it was acknowledged (the killed process
        # may also have committed one whose answer was lost: that one may appear as well)
        assert [i for i in created if i in answered] == acknowledged, (
            f"missing {answered - set(created)}"
        )
        seqs = [e["seq"] for e in console.events]
        assert seqs == sorted(seqs), "out of order"
        assert len(seqs) == len(set(seqs)), "an event twice"
    # the consoles that were on the killed process moved to another one
    assert sum(c.reconnects for c in consoles) >= 2
