"""What integration tests share: a small town, an API client, a console, server processes,
and the incidents and events that tests of the store write straight to it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from dispatcher.core.events import Event, EventType
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.settings import Settings

ADMIN = "test-admin-secret"


def square(lon: float, lat: float, size: float) -> list[list[list[float]]]:
    return [
        [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    ]


def feature(zid: str, level: str, ring: list[list[list[float]]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": zid,
        "properties": {"name": zid, "level": level, **props},
        "geometry": {"type": "Polygon", "coordinates": ring},
    }


#: a small district: two streets side by side, a community and two grid cells in the west one
TOWN = {
    "type": "FeatureCollection",
    "features": [
        feature(
            "d",
            "district",
            square(121.40, 31.20, 0.2),
            squad_id="centre",
            specialists={"construction_waste": "brigade-cw"},
        ),
        feature("west", "street", square(121.40, 31.20, 0.1), parent_id="d", squad_id="sq-west"),
        feature(
            "east",
            "street",
            [[[121.50, 31.20], [121.60, 31.20], [121.60, 31.40], [121.50, 31.40], [121.50, 31.20]]],
            parent_id="d",
            squad_id="sq-east",
        ),
        feature(
            "west-north", "street", square(121.40, 31.30, 0.1), parent_id="d", squad_id="sq-west"
        ),
        feature("w-c1", "community", square(121.40, 31.20, 0.05), parent_id="west"),
        feature("w-g1", "grid", square(121.40, 31.20, 0.01), parent_id="w-c1"),
    ],
}
SQUADS = {
    "centre": {"name": "区指挥中心", "kind": "centre"},
    "brigade-cw": {
        "name": "建设工程支队",
        "kind": "specialist",
        "parent_id": "centre",
        "skills": ["construction_waste"],
    },
    "sq-west": {"name": "西街道中队", "kind": "street", "parent_id": "centre"},
    "sq-east": {"name": "东街道中队", "kind": "street", "parent_id": "centre"},
}
#: a point well inside the west street (and its grid cell w-g1)
WEST = (121.405, 31.205)
EAST = (121.55, 31.30)


def stored_incident(
    iid: str,
    source: Source,
    at: datetime,
    *,
    key: str | None = None,
    category: str = "0101",
    place: tuple[float, float] = WEST,
    **more: Any,
) -> Incident:
    """An incident to write straight to the store (tests of SQL below the API): ``iid`` its
    id, ``key`` its external id (``ext-`` and the id by default), received and updated ``at``."""
    return Incident(
        id=IncidentId(iid),
        source=source,
        external_id=key if key is not None else f"ext-{iid}",
        category=category,
        state=more.pop("state", State.REPORTED),
        priority="normal",
        lon=place[0],
        lat=place[1],
        received_at=at,
        updated_at=at,
        **more,
    )


def event(
    kind: EventType, after: Incident, at: datetime, before: State | None, action: str = "act"
) -> Event:
    """An event as the life cycle hands it to the journal (tests of SQL below the API): an
    operator's ``action`` left the incident in ``after``, from the state ``before`` (None for
    one just created)."""
    return Event(kind, after, at, "tester", "operator", action, before)


def without_clock(answer: Any) -> Any:
    """An answer with every incident's ``remaining_s`` taken out: it is worked out when the
    answer is made, and the case clock runs during working hours, so two answers about the same
    stored incident differ in it by the milliseconds between them."""
    if isinstance(answer, list | tuple):
        return type(answer)(without_clock(a) for a in answer)
    if isinstance(answer, dict):
        return {k: without_clock(v) for k, v in answer.items() if k != "remaining_s"}
    return answer


@dataclass
class Api:
    """A running server and a client session with helpers for the common calls."""

    base: str
    session: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = ADMIN,
        *,
        body: Any = None,
        data: bytes | None = None,
        expect: int | None = None,
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"headers": self.headers(token)}
        if body is not None:
            kwargs["json"] = body
        if data is not None:
            kwargs["data"] = io.BytesIO(data)
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            payload = json.loads(text) if text and resp.content_type == "application/json" else text
            if expect is not None:
                assert resp.status == expect, f"{method} {path}: {resp.status} {text[:500]}"
            return resp.status, payload

    async def token(self, role: str, squad_id: str | None = None) -> str:
        body: dict[str, Any] = {"role": role, "name": f"test {role}"}
        if squad_id:
            body["squad_id"] = squad_id
        _, answer = await self.call("POST", "/api/v1/tokens", body=body, expect=201)
        return str(answer["token"])

    async def load_town(self) -> None:
        for sid, body in SQUADS.items():
            await self.call("PUT", f"/api/v1/squads/{sid}", body=body)
        await self.call("PUT", "/api/v1/zones", body=TOWN, expect=200)

    async def report(self, token: str, **overrides: Any) -> tuple[int, Any]:
        body = {
            "source": "hotline",
            "category": "200504",
            "lon": WEST[0],
            "lat": WEST[1],
            "description": "店外经营",
            **overrides,
        }
        return await self.call("POST", "/api/v1/incidents", token, body=body)


def settings_for(database_url: str, redis_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_token=ADMIN,
        group_commit_ms=1.0,
        **extra,
    )


class Console:
    """A WebSocket client that collects every event it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "seq" in m and "type" in m and "incident" in m]

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def next(self, wait_s: float = 5.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=wait_s)
        assert msg.type is aiohttp.WSMsgType.TEXT, f"got {msg.type} {msg.data!r}"
        data: dict[str, Any] = json.loads(msg.data)
        self.messages.append(data)
        return data

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], wait_s: float = 5.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"timed out; got {self.messages[-5:]}"
            message = await self.next(left)
            if predicate(message):
                return message

    async def subscribe(self, topics: list[str], since: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "subscribe", "topics": topics}
        if since is not None:
            body["since"] = since
        await self.send(body)
        return await self.until(lambda m: m.get("type") in {"subscribed", "error"})


async def open_console(api: Api, token: str = ADMIN) -> Console:
    """A console connected to ``api``'s ``/ws`` with ``token``; the caller must close its ``ws``
    (or use :func:`console`)."""
    ws = await api.session.ws_connect(
        api.base.replace("http", "ws", 1) + "/ws", headers=api.headers(token)
    )
    return Console(ws)


@contextlib.asynccontextmanager
async def console(api: Api, token: str = ADMIN) -> AsyncIterator[Console]:
    screen = await open_console(api, token)
    try:
        yield screen
    finally:
        await screen.ws.close()


@dataclass
class ServeProcess:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)
