"""Every route fuzzed from the project's own OpenAPI document (schemathesis): never a 5xx.

One real `dispatch serve` process on a database of its own serves the whole module; the
document is the one the server itself serves at /api/v1/openapi.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import SerializationNotPossible

from dispatcher.demo.embedded import PostgresProcess, RedisProcess, free_port
from tests.conftest import TEMPLATE
from tests.integration.support import ADMIN

HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def fuzz_server(
    pg_server: PostgresProcess, redis_server: RedisProcess, migrated_template: str
) -> Iterator[str]:
    database = pg_server.create_database("fuzz", template=TEMPLATE)
    port = free_port()
    env = {
        **os.environ,
        "DISPATCH_DATABASE_URL": database,
        "DISPATCH_PORT": str(port),
        "DISPATCH_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/3",
        "DISPATCH_ADMIN_TOKEN": ADMIN,
        "DISPATCH_AUTH_FAILURES_PER_MINUTE": "1000000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(10)
        pg_server.drop_database("fuzz")
    del migrated_template


@pytest.fixture(scope="module")
def served_schema(fuzz_server: str) -> Any:
    request = urllib.request.Request(fuzz_server + "/api/v1/openapi.json", headers=HEADERS)
    with urllib.request.urlopen(request, timeout=10) as answer:
        document = json.load(answer)
    # /api/v1 only: the document describes Open311 (form bodies, GeoReport errors), the
    # WebSocket handshake and the alarm host (camera networks only) too, tested on their own
    document["paths"] = {p: v for p, v in document["paths"].items() if p.startswith("/api/v1")}
    return schemathesis.openapi.from_dict(document)


def test_no_route_answers_a_server_error(served_schema: Any, fuzz_server: str) -> None:
    operations = [result.ok() for result in served_schema.get_all_operations()]
    assert len(operations) > 30
    tried: list[str] = []
    skipped: list[str] = []
    for operation in operations:
        if operation.method.upper() == "DELETE":
            continue  # revoking tokens mid-run would change what the other cases may do

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case: Any) -> None:
            response = case.call(base_url=fuzz_server, headers=HEADERS, timeout=30)
            case.validate_response(response, checks=(not_a_server_error,))

        name = f"{operation.method.upper()} {operation.path}"
        try:
            no_server_error()
        except SerializationNotPossible:
            skipped.append(name)  # NDJSON bodies: tested by test_batch.py instead
            continue
        tried.append(name)
    assert "POST /api/v1/incidents" in tried
    assert skipped == ["POST /api/v1/incidents:batch"]
