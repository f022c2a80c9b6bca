"""What the benchmarks share: a private deployment, report bodies, a load generator, CPU figures.

:func:`running_stack` starts private PostgreSQL (durable: ``fsync`` on, as in production, since
the server promises that a 201 is durable) and Redis in a scratch folder, runs ``dispatch
migrate``, runs ONE ``dispatch serve`` process, loads the integration tests' town and makes a
device and an operator token; it stops all of it when the block ends, however it ends.
:class:`ReportMaker` makes camera and hotline reports, each with its own id and place.

:func:`run_in_process` runs a load generator in a fresh process (``spawn``), so the client's CPU
is not counted in the server's process; they still share the machine's cores.
:class:`CpuSampler` samples the CPU time of the processes involved so that each figure can be
given with the CPU it cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import psutil

from dispatcher.demo import embedded

ROOT: Final = Path(__file__).resolve().parent.parent
HOST: Final = "127.0.0.1"
ADMIN_TOKEN: Final = "bench-admin-secret"
SERVER_START_S: Final = 60.0
SERVER_STOP_S: Final = 30.0
#: how long one request may take before the load generator counts it as an error
REQUEST_TIMEOUT_S: Final = 30.0


# -- the deployment ------------------------------------------------------------------------


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
def scratch_folder(prefix: str = "dispatch-bench-") -> Iterator[Path]:
    """A new folder that other users may enter (PostgreSQL runs as ``postgres`` under root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
        folder = stack.enter_context(scratch_folder())
        postgres = stack.enter_context(embedded.start_postgres(folder / "pgdata", fsync=True))
        redis = stack.enter_context(embedded.start_redis(folder / "redis"))
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


# -- report bodies -------------------------------------------------------------------------

#: (source, category, what is said) as cameras and the 12345 hotline report them; every
#: category here merges reports within at most 50 m (its dedup_radius_m)
_KINDS: Final = (
    ("camera", "200504", "AI识别：沿街商铺出店经营，货物摆上人行道"),
    ("camera", "200506", "AI识别：共享单车大量堆积，占用人行道"),
    ("camera", "200502", "AI识别：有人占道设摊经营"),
    ("hotline", "200102", "市民来电：路边有暴露垃圾，请尽快处理"),
    ("hotline", "200113", "市民来电：餐饮店油烟直排，影响居民，要求核实处理并回复"),
    ("hotline", "200507", "市民来电：人行道上乱堆物料，已多次反映，要求彻底解决"),
)
#: boxes inside the town's two streets (lon, lat, size in degrees), cut into a grid whose
#: cells are about 62 m x 72 m apart: more than any dedup radius above
_AREAS: Final = ((121.401, 31.201, 0.098), (121.501, 31.201, 0.098))
_GRID: Final = 150
_VARIANTS: Final = 8
#: how far apart on the grid consecutive reports fall (coprime to _GRID * _GRID = 22,500)
_STRIDE: Final = 7_919
#: distinct (place, kind) pairs before places repeat
SLOTS: Final = len(_KINDS) * len(_AREAS) * _GRID * _GRID
#: slots set aside for one run of the load generator (see ``ReportMaker(first=...)``)
SLOTS_PER_RUN: Final = 20_000
#: cameras the reports come from: each stays far below the server's per-device rate limit
_CAMERAS: Final = 1000
_EXTERNAL = "@@external_id@@"
_DEVICE = "@@device@@"
_LON = '"@@lon@@"'
_LAT = '"@@lat@@"'


class ReportMaker:
    """Request bodies shaped like camera and hotline reports, each with its own external_id.

    Report n of a maker takes slot ``first + n``: a kind and a place of its own, on a grid
    whose points are further apart than the server's dedup radius, so that reports are not
    merged as duplicates of each other (that is another path than intake's); consecutive
    reports are kilometres apart. Runs against
    one database should use disjoint slot ranges; ``tag`` keeps external ids unique.
    """

    def __init__(self, tag: str, first: int = 0, seed: int = 7) -> None:
        rng = random.Random(seed)
        self._tag = tag
        self._first = first
        self._templates: list[tuple[str, str]] = []
        occurred = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600))
        for n in range(len(_KINDS) * _VARIANTS):
            source, category, said = _KINDS[n % len(_KINDS)]
            body: dict[str, Any] = {
                "source": source,
                "external_id": _EXTERNAL,
                "category": category,
                "lon": _LON.strip('"'),
                "lat": _LAT.strip('"'),
                "crs": "WGS84",
                "description": said,
                "occurred_at": occurred,
            }
            if source == "camera":
                body |= {
                    "media": [f"https://media.example.com/{_DEVICE}/snapshot.jpg"],
                    "confidence": round(0.70 + rng.random() * 0.28, 2),
                    "device_id": _DEVICE,
                    "address": f"沿街商铺 {n} 号门前",
                }
                prefix = f"{_DEVICE}-"
            else:
                body["address"] = f"某小区 {n} 号楼"
                prefix = "12345-"
            self._templates.append((json.dumps(body, ensure_ascii=False), prefix))

    def make(self, n: int) -> bytes:
        slot = (self._first + n) % SLOTS
        kind = slot % len(_KINDS)
        rest = slot // len(_KINDS)
        lon0, lat0, size = _AREAS[rest % len(_AREAS)]
        # consecutive reports land far apart (a stride coprime to the grid's size walks every
        # place once), as a city's reports do: neighbours would take turns on a place lock
        place = (rest // len(_AREAS)) * _STRIDE % (_GRID * _GRID)
        row, col = divmod(place, _GRID)
        variant = (rest // len(_AREAS)) % _VARIANTS
        text, prefix = self._templates[variant * len(_KINDS) + kind]
        return (
            text.replace(_EXTERNAL, f"{prefix}{self._tag}-{n:08d}")
            .replace(_DEVICE, f"cam-{rest % _CAMERAS:04d}")
            .replace(_LON, f"{lon0 + (col + 0.5) * size / _GRID:.6f}")
            .replace(_LAT, f"{lat0 + (row + 0.5) * size / _GRID:.6f}")
            .encode()
        )


# -- the closed-loop load generator --------------------------------------------------------


@dataclass
class LoadResult:
    """What one run of the load generator saw inside its measurement window."""

    ok: int
    seconds: float
    latencies_ms: list[float]
    #: (wall-clock start, end) of the measurement window, time.time()
    window: tuple[float, float]
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def error_count(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def describe_errors(self) -> str:
        parts = [f"HTTP {s}: {n}" for s, n in sorted(self.statuses.items())]
        parts += [f"{kind}: {n}" for kind, n in sorted(self.errors.items())]
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class LoadSpec:
    """Where and how hard the closed-loop generator posts; ``tag`` keeps external ids unique."""

    url: str
    token: str
    concurrency: int
    warmup: float
    seconds: float
    tag: str
    #: wall-clock time to begin at, so that several generator processes run together
    start_at: float = 0.0
    #: the first report slot of this run (see ReportMaker)
    first: int = 0


def closed_loop(spec: LoadSpec) -> LoadResult:
    """Post reports over ``concurrency`` keep-alive connections as fast as they are answered.

    Runs ``warmup + seconds`` and stops by itself; only answers that arrive inside the last
    ``seconds`` are counted. Non-2xx answers and exceptions are counted as errors.
    """
    return asyncio.run(_closed_loop(spec))


async def _closed_loop(spec: LoadSpec) -> LoadResult:
    url, concurrency, warmup, seconds = spec.url, spec.concurrency, spec.warmup, spec.seconds
    maker = ReportMaker(spec.tag, spec.first)
    headers = {"Authorization": f"Bearer {spec.token}", "Content-Type": "application/json"}
    numbers = itertools.count()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        started = time.perf_counter()
        wall = time.time() - started
        measure_from = started + warmup
        stop_at = measure_from + seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                body = maker.make(next(numbers))
                began = time.perf_counter()
                status = 0
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)  # do not spin on a refused connection
                    continue
                done = time.perf_counter()
                if not measure_from <= done < stop_at:
                    continue
                if 200 <= status < 300:
                    latencies.append((done - began) * 1000)
                else:
                    statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(
        ok=len(latencies),
        seconds=seconds,
        latencies_ms=latencies,
        window=(wall + measure_from, wall + stop_at),
        statuses=dict(statuses),
        errors=dict(errors),
    )


# -- running a function in its own process ------------------------------------------------


def _child(conn: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", func(*args)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


class Child:
    """A function running in a fresh (spawned) process; :meth:`result` waits for its answer."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(child_end, func, args), daemon=True)
        self._process.start()
        child_end.close()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def result(self, timeout: float) -> Any:
        """The function's answer; raise if it failed or took longer than ``timeout``."""
        try:
            if not self._conn.poll(timeout):
                raise TimeoutError(f"the child process {self.pid} did not answer in {timeout}s")
            kind, value = self._conn.recv()
        finally:
            self.stop()
        if kind == "error":
            raise RuntimeError(f"the child process failed: {value}")
        return value

    def stop(self) -> None:
        """End the process if it still runs (by its pid only); reap it."""
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


def run_in_process(timeout: float, func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` in a fresh process and answer what it returned."""
    return Child(func, *args).result(timeout)


# -- CPU -----------------------------------------------------------------------------------


class CpuSampler:
    """Samples the CPU time (user + system) of named processes every ``interval`` seconds.

    A process watched with ``tree=True`` counts its children too (PostgreSQL's backends).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self._interval = interval
        self._watched: dict[str, list[tuple[psutil.Process, bool]]] = {}
        self._samples: dict[str, list[tuple[float, float]]] = {}
        #: the whole machine: (time, idle + iowait seconds, steal seconds) summed over cores
        self._machine: list[tuple[float, float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def watch(self, name: str, pid: int, *, tree: bool = False) -> None:
        """Sample process ``pid`` as ``name`` (instead of what ``name`` sampled before)."""
        with self._lock:
            self._watched[name] = [(psutil.Process(pid), tree)]
            self._samples[name] = []

    def watch_also(self, name: str, pid: int, *, tree: bool = False) -> None:
        """Count process ``pid`` under ``name`` too: ``name`` is then the sum of them all."""
        with self._lock:
            self._watched.setdefault(name, []).append((psutil.Process(pid), tree))
            self._samples[name] = []

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            whole = psutil.cpu_times()
            self._machine.append((time.time(), whole.idle + whole.iowait, whole.steal))
            with self._lock:
                watched = list(self._watched.items())
            for name, sampled in watched:
                total, alive = 0.0, False
                for proc, tree in sampled:
                    with contextlib.suppress(psutil.Error):
                        procs = [proc, *proc.children(recursive=True)] if tree else [proc]
                        alive = True
                        for p in procs:
                            with contextlib.suppress(psutil.Error):
                                t = p.cpu_times()
                                total += t.user + t.system
                if alive:  # a name whose processes have all ended keeps its last sample
                    self._samples[name].append((time.time(), total))
            self._stop.wait(self._interval)

    def machine(self, start: float, end: float) -> dict[str, float]:
        """The whole machine between two times: busy and stolen CPU, 100 = one core."""
        before = [m for m in self._machine if m[0] <= start] or self._machine[:1]
        after = [m for m in self._machine if m[0] >= end] or self._machine[-1:]
        if not before or not after or after[0][0] <= before[-1][0]:
            return {}
        (t0, idle0, steal0), (t1, idle1, steal1) = before[-1], after[0]
        span = t1 - t0
        cores = psutil.cpu_count() or 1
        return {
            "busy": 100.0 * cores - 100.0 * (idle1 - idle0) / span,
            "steal": 100.0 * (steal1 - steal0) / span,
        }

    def percent(self, name: str, start: float, end: float) -> float | None:
        """CPU use of ``name`` between two wall-clock times, 100 = one core busy."""
        samples = self._samples.get(name, [])
        before = [s for s in samples if s[0] <= start]
        after = [s for s in samples if s[0] >= end]
        if not before or not after:
            inside = [s for s in samples if start <= s[0] <= end]
            if len(inside) < 2:
                return None
            first, last = inside[0], inside[-1]
        else:
            first, last = before[-1], after[0]
        if last[0] <= first[0]:
            return None
        return 100.0 * (last[1] - first[1]) / (last[0] - first[0])


# -- figures and conditions ----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: Sequence[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return statistics.median(present) if present else float("nan")


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, columns right-aligned except the first."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def conditions(stack: Stack | None = None, source: Path = ROOT) -> dict[str, str]:
    """What the figures depend on: the machine, its load, the versions, durability."""
    model = "?"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    found: dict[str, str] = {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": model,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "machine busy before": f"{other_load():.0f}% of {100 * (os.cpu_count() or 1)}% "
        "(2 s before the runs: other tenants)",
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
    }
    bindir = embedded.find_postgres_bin()
    answer = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    found["postgresql"] = answer.stdout.strip() + " (fsync on, synchronous_commit on)"
    found["code"] = code_version(source)
    if stack is not None:
        found["server"] = f"one `dispatch serve` process, pid {stack.server.pid}"
    return found


def other_load(seconds: float = 2.0) -> float:
    """How busy the machine is while we run nothing, 100 = one core."""
    times = psutil.cpu_times_percent(interval=seconds)
    return (psutil.cpu_count() or 1) * (100.0 - times.idle - times.iowait)


def code_version(source: Path = ROOT) -> str:
    """The commit the figures belong to, and whether the working tree differed from it.

    A tree that is not a checkout (``git archive``) may name its commit in a file ``COMMIT``.
    """
    if not (source / ".git").exists():
        named = source / "COMMIT"
        commit = named.read_text().strip() if named.exists() else "unknown commit"
        return f"{commit} (tree {source})"
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (f" + {len(changed)} uncommitted changed files" if changed else "")


def print_conditions(found: dict[str, str]) -> None:
    for key, value in found.items():
        print(f"  {key:24} {value}")
