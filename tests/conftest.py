"""Fixtures for every test: private PostgreSQL and Redis servers shared by the session.

``database_url`` is a database of its own for each test, cloned from a template to which every
migration was applied, and dropped after the test; ``make_database`` makes more of them.
``redis_url`` is the session's Redis, flushed before each test. Both servers start together
(``embedded.running_services``, in a scratch folder) on the first test that needs either, and
at the end of the session they are stopped and their folder removed, whatever the tests did.

The session fixtures are synchronous (one-off set-up through ``asyncio.run``), so they are bound
to no event loop and every test keeps its own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dispatcher.demo.embedded import (
    PostgresProcess,
    RedisProcess,
    running_services,
    scratch_folder,
)
from dispatcher.store import migrate

TEMPLATE = "dispatch_template"


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    """Like ``tmp_path``, but open to other users: for data folders of servers started here."""
    with scratch_folder("dispatch-test-") as folder:
        yield folder


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[PostgresProcess, RedisProcess]]:
    """The session's servers: PostgreSQL without fsync (fast, and not crash-safe) and a Redis
    that writes nothing to disk."""
    with (
        scratch_folder("dispatch-servers-") as folder,
        running_services(folder, fsync=False, persistent=False) as both,
    ):
        yield both


@pytest.fixture(scope="session")
def pg_server(servers: tuple[PostgresProcess, RedisProcess]) -> PostgresProcess:
    """The session's PostgreSQL server."""
    return servers[0]


@pytest.fixture(scope="session")
def redis_server(servers: tuple[PostgresProcess, RedisProcess]) -> RedisProcess:
    """The session's Redis server."""
    return servers[1]


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
