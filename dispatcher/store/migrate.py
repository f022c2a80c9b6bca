"""Applies the numbered SQL files of ``migrations/`` in order, each once, each in a transaction.

Applied files are recorded in ``schema_migrations`` with a checksum; a file that changed after it
was applied is refused rather than silently skipped. Concurrent runs are serialised by an
advisory lock, so several processes may call ``apply`` at start-up.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

log = logging.getLogger(__name__)

#: an installed package carries them as package data (dispatcher/migrations, pyproject.toml's
#: package-dir); a source tree (an editable install, the tests) has them beside the package
MIGRATIONS_DIR: Final = next(
    (
        d / "migrations"
        for d in Path(__file__).resolve().parents[1:3]
        if (d / "migrations").is_dir()
    ),
    Path(__file__).resolve().parents[1] / "migrations",
)
_LOCK_KEY: Final = 0x6D696772  # "migr"
_NAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

CREATE_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
SELECT_APPLIED: Final = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED: Final = (
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
)


class MigrationError(Exception):
    """A migration file is misnamed, was edited after it was applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of ``directory``, in order; raise on a misnamed or repeated number.

    An installation without its migrations (a wheel built without them) is refused: saying
    "up to date" about a database nothing was checked against would be a lie.
    """
    if not directory.is_dir() or not any(directory.glob("*.sql")):
        raise MigrationError(f"no migrations found in {directory}")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: expected NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: number {version} is used twice")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def apply(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; answer the names applied now (empty when up to date)."""
    migrations = discover(directory)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(CREATE_TABLE)
            applied = {r["version"]: r for r in await conn.fetch(SELECT_APPLIED)}
            done: list[str] = []
            for migration in migrations:
                record = applied.get(migration.version)
                if record is not None:
                    if record["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} was changed after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                log.info("applying migration %s", migration.name)
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            INSERT_APPLIED, migration.version, migration.name, migration.checksum
                        )
                except asyncpg.PostgresError as exc:
                    raise MigrationError(f"{migration.name} failed: {exc}") from exc
                done.append(migration.name)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
