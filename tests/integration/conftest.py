"""Fixtures that run the application against the real PostgreSQL and Redis of the test run.

``api`` is an in-process server (aiohttp's TestServer on 127.0.0.1) with an admin token; the
``serve_process`` factory starts real ``dispatch serve`` processes for multi-process and crash
tests. The database and Redis come from ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.demo.embedded import free_port
from dispatcher.web.access_log import PathOnlyAccessLogger
from tests.integration.support import ADMIN, Api, ServeProcess, settings_for


@pytest_asyncio.fixture
async def api_factory(
    database_url: str, redis_url: str
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Starts in-process servers with settings of the test's choosing; closes them after."""
    servers: list[TestServer] = []
    async with aiohttp.ClientSession() as session:

        async def start(**settings: Any) -> Api:
            app = create_app(settings_for(database_url, redis_url, **settings))
            server = TestServer(app, host="127.0.0.1")
            # aiohttp's default access log writes the query string, a ticket's included
            await server.start_server(access_log_class=PathOnlyAccessLogger)
            servers.append(server)
            return Api(str(server.make_url("")).rstrip("/"), session)

        yield start
        for server in servers:
            await server.close()


@pytest_asyncio.fixture
async def api(api_factory: Callable[..., Awaitable[Api]]) -> Api:
    return await api_factory()


@pytest.fixture
def serve_process(database_url: str, redis_url: str) -> Iterator[Callable[[], ServeProcess]]:
    """A factory of real ``dispatch serve`` processes on free ports, all stopped at the end."""
    started: list[ServeProcess] = []

    def start() -> ServeProcess:
        port = free_port()
        env = {
            **os.environ,
            "DISPATCH_DATABASE_URL": database_url,
            "DISPATCH_REDIS_URL": redis_url,
            "DISPATCH_PORT": str(port),
            "DISPATCH_ADMIN_TOKEN": ADMIN,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = ServeProcess(port, proc)
        started.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return server
            time.sleep(0.05)
        raise AssertionError("dispatch serve did not start listening")

    yield start
    for server in started:
        server.kill()
        if server.proc.stderr:
            server.proc.stderr.close()
