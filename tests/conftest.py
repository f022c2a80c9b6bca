"""Fixtures for every test: private PostgreSQL and Redis servers shared by the session.

``database_url`` is a database of its own for each test, cloned from a template to which every
migration was applied, and dropped after the test; ``make_database`` makes more of them.
``redis_url`` is the session's Redis, flushed before each test. The servers start on the first
test that needs them, and at the end of the session they are stopped and their folders removed,
whatever the tests did.

The session fixtures are synchronous (one-off set-up through ``asyncio.run``), so they are bound
to no event loop and every test keeps its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dispatcher.demo.embedded import PostgresProcess, RedisProcess, start_postgres, start_redis
from dispatcher.store import migrate

TEMPLATE = "dispatch_template"


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new folder, removed afterwards, that other users may enter.

    When the tests run as root, PostgreSQL runs as another user, who must reach its data folder:
    pytest's ``tmp_path`` is closed to other users, this one is not.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    """Like ``tmp_path``, but open to other users: for data folders of servers started here."""
    with scratch_folder("dispatch-test-") as folder:
        yield folder


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresProcess]:
    """The session's PostgreSQL server, without fsync: fast, and not crash-safe."""
    with (
        scratch_folder("dispatch-pg-") as folder,
        start_postgres(folder / "pgdata", fsync=False) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """The session's Redis server, which writes nothing to disk."""
    with scratch_folder("dispatch-redis-") as folder, start_redis(folder) as server:
        yield server


@pytest.fixture(scope="session")
def migrated_template(pg_server: PostgresProcess) -> str:
    """The URL of the template database, every migration applied.

    A test may read it, but must close its connections: a template with an open connection
    cannot be cloned.
    """
    url = pg_server.create_database(TEMPLATE)
    asyncio.run(migrate.apply(url))
    return url


@pytest.fixture(scope="session")
def database_numbers() -> Iterator[int]:
    return itertools.count(1)


@pytest.fixture
def make_database(
    pg_server: PostgresProcess, migrated_template: str, database_numbers: Iterator[int]
) -> Iterator[Callable[[], str]]:
    """Call it for the URL of a new migrated database; all of them are dropped after the test."""
    made: list[str] = []

    def make() -> str:
        name = f"test_{next(database_numbers)}"
        url = pg_server.create_database(name, template=TEMPLATE)
        made.append(name)
        return url

    yield make
    for name in made:
        pg_server.drop_database(name)  # ends connections the test left open


@pytest.fixture
def database_url(make_database: Callable[[], str]) -> str:
    """The URL of a migrated database of this test's own."""
    return make_database()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """The URL of the session's Redis, emptied for this test."""
    redis_server.flushall()
    return redis_server.url
