"""Checkpoints of the history's head, appended to a file (:mod:`dispatcher.core.checkpoints`).

:func:`write` reads the head (the last entry's seq and hash), signs it with the key and appends
one JSON line to the file, flushed to disk: ``dispatch audit checkpoint`` calls it once, and
each server every ``DISPATCH_AUDIT_CHECKPOINT_MINUTES`` when ``DISPATCH_AUDIT_CHECKPOINT_FILE``
is set (:func:`checkpoints_ctx`). Several servers may append to one file: each line stands
alone, and a line of a few hundred bytes is appended whole (``O_APPEND``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiohttp import web

from dispatcher.core.checkpoints import Checkpoint
from dispatcher.store import anchors
from dispatcher.store import records as store
from dispatcher.web import context as http

log = logging.getLogger(__name__)


def append(path: Path, line: str) -> None:
    """Append ``line`` and a newline to ``path`` (made if missing) and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


async def write(conn: store.Connection, path: Path, key: str) -> Checkpoint | None:
    """Sign the history's head and append it to ``path``; None (nothing written) when the
    history is empty."""
    head = await anchors.head(conn)
    if head is None:
        return None
    checkpoint = Checkpoint(head[0], head[1], datetime.now(UTC))
    await asyncio.to_thread(append, path, checkpoint.line(key))
    return checkpoint


async def _every(pool: store.Pool, path: Path, key: str, minutes: float) -> None:
    while True:
        try:
            async with pool.acquire() as conn:
                checkpoint = await write(conn, path, key)
            if checkpoint is not None:
                log.info("history checkpoint: seq %d written to %s", checkpoint.seq, path)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # next round
            log.error("history checkpoint to %s failed: %s", path, exc)
        await asyncio.sleep(minutes * 60)


async def checkpoints_ctx(app: web.Application) -> AsyncIterator[None]:
    """This process's periodic checkpoint, when the settings ask for one."""
    settings = app[http.SETTINGS]
    path = settings.audit_checkpoint_file
    task = None
    if path is not None:
        if settings.audit_key is None:
            log.error(
                "DISPATCH_AUDIT_CHECKPOINT_FILE is set, DISPATCH_AUDIT_KEY not: no checkpoints"
            )
        else:
            rt = app[http.RUNTIME]
            every = _every(rt.pool, path, settings.audit_key, settings.audit_checkpoint_minutes)
            task = asyncio.get_running_loop().create_task(every)
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def add_routes(app: web.Application) -> None:
    """No routes: the periodic checkpoint (started after the runtime, ``app.runtime_ctx``)."""
    app.cleanup_ctx.append(checkpoints_ctx)
