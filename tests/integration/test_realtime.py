"""The WebSocket endpoint and the service routes against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from importlib import metadata

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.integration.support import ADMIN, WEST, Api, console


async def test_health_ready_and_metrics(api: Api) -> None:
    # the version is the installed package's, as `dispatch --version` prints it
    assert await api.call("GET", "/healthz", None) == (
        200,
        {"status": "ok", "version": metadata.version("dispatch-centre")},
    )
    status, ready = await api.call("GET", "/readyz", None)
    assert (status, ready["postgres"], ready["redis"]) == (200, "ok", "ok")
    await api.load_town()
    await api.report(await api.token("device"))
    status, text = await api.call("GET", "/metrics", None)
    assert status == 200
    assert 'dispatch_intake_total{result="created",source="hotline"} 1.0' in text
    assert "dispatch_ws_connections" in text
    assert 'route="/api/v1/incidents"' in text


async def test_websocket_protocol_errors_are_answered_not_fatal(api: Api) -> None:
    async with console(api) as screen:
        await screen.ws.send_str("not json")
        assert (await screen.next())["code"] == "bad_request"
        await screen.ws.send_bytes(b"\x00\x01")
        assert (await screen.next())["code"] == "bad_request"
        await screen.send({"type": "subscribe", "topics": "all"})
        assert (await screen.next())["code"] == "bad_request"
        await screen.send({"type": "subscribe", "topics": ["all"], "since": -4})
        assert (await screen.next())["code"] == "bad_request"
        await screen.send({"type": "ping"})
        assert (await screen.next())["type"] == "pong"
        # the connection still works after all that
        assert (await screen.subscribe(["all"]))["type"] == "subscribed"
        # a frame over 64 KiB closes the connection (message too big), and only it
        await screen.ws.send_str("x" * (70 * 1024))
        closing = await screen.ws.receive(timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == 1009
    assert (await api.call("GET", "/healthz", None))[0] == 200


async def test_ws_needs_a_token(api: Api) -> None:
    url = api.base.replace("http", "ws", 1) + "/ws"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.session.ws_connect(url)
    assert refused.value.status == 401
    # v1's token in the URL is withdrawn (docs/API.md §2): no long-lived secret in a URL
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.session.ws_connect(url + f"?access_token={ADMIN}")
    assert refused.value.status == 401
    ws = await api.session.ws_connect(url, headers={"Authorization": f"Bearer {ADMIN}"})
    await ws.send_str(json.dumps({"type": "ping"}))
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "pong"
    await ws.close()


def _raw_ws_that_never_reads(base: str, token: str) -> socket.socket:
    """A WebSocket client with a tiny receive buffer that subscribes and then never reads."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    payload = json.dumps({"type": "subscribe", "topics": ["all"]}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)
    return sock


def _read_to_the_end(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


async def test_a_console_that_never_reads_is_dropped_and_others_keep_up(
    api_factory: Callable[..., Awaitable[Api]], redis_url: str
) -> None:
    # the queue must hold a burst (a group commit delivers its events at once), not a backlog
    api = await api_factory(ws_queue_size=128)
    await api.load_town()
    device = await api.token("device")
    stuck = await asyncio.to_thread(_raw_ws_that_never_reads, api.base, ADMIN)
    try:
        async with console(api) as healthy:
            await healthy.subscribe(["all"])
            long_text = "占道经营，" * 300  # ~4.5 KB an event, to fill the socket buffers fast
            posted = 0
            while True:
                batch = await asyncio.gather(
                    *(api.report(device, description=long_text) for _ in range(50))
                )
                posted += len(batch)
                _, metrics = await api.call("GET", "/metrics", None)
                if "dispatch_ws_slow_consumer_drops 1.0" in metrics or posted >= 3000:
                    break
            assert "dispatch_ws_slow_consumer_drops 1.0" in metrics, f"no drop after {posted}"
            received = 0
            while received < posted:
                message = await healthy.next(10)
                received += message.get("type") == "incident.created"
            assert received == posted
        # and the server let go of the stuck connection: reading it to the end finds the end
        assert await asyncio.to_thread(_read_to_the_end, stuck)
    finally:
        stuck.close()
    # Redis is untouched by any of it
    client = aioredis.from_url(redis_url)
    assert await client.ping()
    await client.aclose()


async def test_a_replay_carries_what_the_live_stream_carried_for_the_same_topics(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    async with console(api) as live_all, console(api) as live_squad:
        await live_all.subscribe(["all"])
        await live_squad.subscribe(["squad:sq-west"])
        for n in range(3):  # dispatched at once: incident.created, then dispatch.assigned
            status, _ = await api.report(device, external_id=f"replay-{n}", lon=WEST[0] + 0.005 * n)
            assert status == 201
        await live_squad.until(lambda m: len(live_squad.events) == 6)
        await live_all.until(lambda m: len(live_all.events) == 3)
        for screen, topics in ((live_all, ["all"]), (live_squad, ["squad:sq-west"])):
            async with console(api) as late:
                await late.subscribe(topics, since=0)
                await late.until(
                    lambda m, late=late, screen=screen: len(late.events) == len(screen.events)
                )
                with pytest.raises(asyncio.TimeoutError):
                    await late.next(0.3)  # and nothing more
                assert [(e["seq"], e["type"]) for e in late.events] == [
                    (e["seq"], e["type"]) for e in screen.events
                ]
    assert {e["type"] for e in live_all.events} == {"incident.created"}
    assert {e["type"] for e in live_squad.events} == {"incident.created", "dispatch.assigned"}
