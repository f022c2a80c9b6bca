"""A private deployment for the benchmarks: PostgreSQL, Redis and ``dispatch serve`` processes.

:func:`running_stack` starts private PostgreSQL (durable: ``fsync`` on, as in production, since
the server promises that a 201 is durable) and Redis in a scratch folder
(``embedded.running_services``), runs ``dispatch migrate``, runs ONE ``dispatch serve``
process, loads the integration tests' town and makes a device and an operator token; it stops
all of it when the block ends, however it ends. :func:`another_server` adds one more ``dispatch
serve`` on the same database and Redis; :func:`scrape` reads a server's own counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from dispatcher.demo import embedded

ROOT: Final = Path(__file__).resolve().parent.parent
HOST: Final = "127.0.0.1"
ADMIN_TOKEN: Final = "bench-admin-secret"
SERVER_START_S: Final = 60.0
SERVER_STOP_S: Final = 30.0
#: the scratch folders of the benchmarks' servers
SCRATCH_PREFIX: Final = "dispatch-bench-"
_METRIC: Final = re.compile(r"^(dispatch_[a-z_]+) ([0-9.e+-]+)$", re.MULTILINE)


@dataclass
class Stack:
    """A running private deployment: PostgreSQL, Redis and one ``dispatch serve`` process."""

    folder: Path
    postgres: embedded.PostgresProcess
    redis: embedded.RedisProcess
    server: subprocess.Popen[bytes]
    port: int
    device_token: str = ""
    operator_token: str = ""

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def intake_url(self) -> str:
        return self.base + "/api/v1/incidents"


@contextlib.contextmanager
def running_stack(
    *, source: Path = ROOT, profile_to: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Run the whole deployment; yield it once the town is loaded and the tokens exist.

    ``source`` is the source tree whose ``dispatch migrate`` and ``dispatch serve`` run (this
    checkout by default; another, e.g. a ``git archive`` of an older commit, compares versions).
    ``profile_to`` runs the server under cProfile, writing its statistics there on exit.
    ``env`` adds variables to the server's environment (e.g. ``DISPATCH_GROUP_COMMIT_MS``).
    """
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(embedded.scratch_folder(SCRATCH_PREFIX))
        postgres, redis = stack.enter_context(embedded.running_services(folder, persistent=False))
        migrate(source, postgres.url)
        server, port = start_server(
            folder, postgres.url, redis.url, source=source, profile_to=profile_to, env=env or {}
        )
        stack.callback(stop_server, server)
        deployment = Stack(folder, postgres, redis, server, port)
        wait_ready(deployment.base, server, folder / "serve.log")
        zones, squads = town(source)
        deployment.device_token, deployment.operator_token = asyncio.run(
            prepare(deployment.base, zones, squads)
        )
        yield deployment


def _tree_env(source: Path) -> dict[str, str]:
    """This environment, with ``source`` first on the import path (before the editable install)."""
    return {**os.environ, "PYTHONPATH": str(source)}


def migrate(source: Path, database_url: str) -> None:
    """``dispatch migrate`` of the tree ``source``: apply every migration to the database."""
    done = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "migrate"],
        env={**_tree_env(source), "DISPATCH_DATABASE_URL": database_url},
        cwd=source,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dispatch migrate failed ({done.returncode}):\n{done.stderr[-3000:]}")


def start_server(
    folder: Path,
    database_url: str,
    redis_url: str,
    *,
    source: Path,
    profile_to: Path | None,
    env: dict[str, str],
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``python -m dispatcher.cli serve`` on a free port; its output goes to serve.log."""
    port = embedded.free_port()
    variables = {
        **_tree_env(source),
        "DISPATCH_DATABASE_URL": database_url,
        "DISPATCH_REDIS_URL": redis_url,
        "DISPATCH_HOST": HOST,
        "DISPATCH_PORT": str(port),
        "DISPATCH_ADMIN_TOKEN": ADMIN_TOKEN,
        **env,
    }
    profiler = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
    argv = [sys.executable, *profiler, "-m", "dispatcher.cli", "serve"]
    with (folder / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            env=variables,
            cwd=source,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, port


@contextlib.contextmanager
def another_server(
    running: Stack, *, source: Path = ROOT, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """One more ``dispatch serve`` on ``running``'s database and Redis, once it is ready;
    stopped when the block ends. Answers the process and its port."""
    proc, port = start_server(
        running.folder,
        running.postgres.url,
        running.redis.url,
        source=source,
        profile_to=None,
        env=env or {},
    )
    try:
        wait_ready(f"http://{HOST}:{port}", proc, running.folder / "serve.log")
        yield proc, port
    finally:
        stop_server(proc)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server drains and exits), then SIGKILL if it does not; always reaped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(SERVER_STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until ``GET /readyz`` answers 200; raise with the log's tail if the server died."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server exited with code {proc.returncode}:\n{tail}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(base + "/readyz", timeout=1.0) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the server at {base} was not ready in {SERVER_START_S:.0f}s")


def town(source: Path = ROOT) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The integration tests' small town of ``source``: (zones as GeoJSON, squads by id)."""
    path = source / "tests" / "integration" / "support.py"
    spec = importlib.util.spec_from_file_location("_bench_town_support", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.TOWN, module.SQUADS


async def prepare(
    base: str, zones: dict[str, Any], squads: dict[str, dict[str, Any]]
) -> tuple[str, str]:
    """Load the town's squads and zones; answer (device token, operator token)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def call(method: str, path: str, body: Any) -> Any:
            async with session.request(method, base + path, json=body) as resp:
                answer = await resp.json()
                if resp.status >= 300:
                    raise RuntimeError(f"{method} {path}: {resp.status} {answer}")
                return answer

        for squad_id, squad in squads.items():
            await call("PUT", f"/api/v1/squads/{squad_id}", squad)
        await call("PUT", "/api/v1/zones", zones)
        device = await call("POST", "/api/v1/tokens", {"role": "device", "name": "bench camera"})
        operator = await call("POST", "/api/v1/tokens", {"role": "operator", "name": "bench"})
    return str(device["token"]), str(operator["token"])


def scrape(base: str) -> dict[str, float]:
    """The server's own gauges and counters (``GET /metrics``), unlabelled ``dispatch_*`` ones."""
    with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {m[1]: float(m[2]) for m in _METRIC.finditer(text)}
