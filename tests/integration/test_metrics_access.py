"""``GET /metrics``: this process's own metrics and its process metrics, read only from loopback
and the networks of ``DISPATCH_METRICS_NETWORKS`` (the TCP peer's address).

The refusal is tested for real: a server listening on every address is asked over this
machine's own non-loopback address, which is then not loopback to it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.web.scrape import may_scrape
from tests.integration.support import Api, settings_for

Start = Callable[..., Awaitable[int]]


def own_address() -> str | None:
    """This machine's address on its default route, if it has one besides loopback."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
        address = str(s.getsockname()[0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


@pytest.fixture
async def serve_everywhere(database_url: str, redis_url: str) -> AsyncIterator[Start]:
    """Starts servers listening on every address; answers their port."""
    servers: list[TestServer] = []

    async def start(**settings: Any) -> int:
        server = TestServer(
            create_app(settings_for(database_url, redis_url, **settings)), host="0.0.0.0"
        )
        await server.start_server()
        servers.append(server)
        assert server.port is not None
        return server.port

    yield start
    for server in servers:
        await server.close()


async def status_of(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_carry_this_process_s_cpu_memory_and_files(api: Api) -> None:
    _, text = await api.call("GET", "/metrics", None, expect=200)
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "dispatch_ws_connections",
    ):
        assert f"\n{name}" in text, f"{name} not in /metrics"


async def test_only_loopback_and_the_named_networks_may_scrape(serve_everywhere: Start) -> None:
    address = own_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback to be a remote peer from")
    closed = await serve_everywhere()
    status, body = await status_of(f"http://{address}:{closed}/metrics")
    assert status == 403, body
    assert "DISPATCH_METRICS_NETWORKS" in body
    assert (await status_of(f"http://127.0.0.1:{closed}/metrics"))[0] == 200
    assert (await status_of(f"http://{address}:{closed}/healthz"))[0] == 200  # the rest is open

    named = ipaddress.ip_network(f"{address}/32")
    opened = await serve_everywhere(metrics_networks=(named,))
    status, body = await status_of(f"http://{address}:{opened}/metrics")
    assert status == 200
    assert "process_resident_memory_bytes" in body


def test_no_private_range_is_trusted_as_such() -> None:
    bridge = "172.17.0.1"  # Docker's bridge gateway: every outside client behind its proxy
    assert not may_scrape(bridge, None)
    assert not may_scrape("10.0.0.5", None)
    assert not may_scrape("192.168.1.10", None)
    assert may_scrape("127.0.0.1", None)
    assert may_scrape("::1", None)
    assert may_scrape("::ffff:127.0.0.1", None)
    prometheus = (ipaddress.ip_network("10.89.0.0/24"),)
    assert may_scrape("10.89.0.7", prometheus)
    assert not may_scrape("10.89.1.7", prometheus)
    assert not may_scrape(bridge, prometheus)
    assert may_scrape(None, None), "a Unix socket: only this host can connect"
    assert not may_scrape("", prometheus)
    assert not may_scrape("not-an-address", prometheus)
