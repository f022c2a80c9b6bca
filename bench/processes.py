"""Functions run in fresh (spawned) processes, so that a client's CPU is not the server's.

:class:`Child` runs one function and brings back what it returned; :func:`workers` starts
long-lived workers that talk to this process over a pipe (:func:`receive` reads their answers,
:func:`serve_pipe` is the worker's side); :func:`split` shares connections among processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Coroutine, Iterator
from typing import Any


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


def serve_pipe(conn: Any, work: Coroutine[Any, Any, None]) -> None:
    """Run a child process's ``work`` to its end; a failure is sent to the parent over ``conn``
    as ``("error", text)`` (and raised); the pipe is closed either way."""
    try:
        asyncio.run(work)
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


@contextlib.contextmanager
def workers(
    targets: list[tuple[Callable[[Any, Any], None], Any]], *, join_s: float = 5.0
) -> Iterator[list[tuple[Any, Any]]]:
    """Start a spawned process per (function, spec), called as ``function(pipe, spec)``; yield
    (process, this end of its duplex pipe) each. When the block ends, wait ``join_s`` for each
    to finish, then end those still running (by their pid only)."""
    context = multiprocessing.get_context("spawn")
    started: list[tuple[Any, Any]] = []
    try:
        for func, spec in targets:
            here, there = context.Pipe()
            process = context.Process(target=func, args=(there, spec), daemon=True)
            process.start()
            there.close()
            started.append((process, here))
        yield started
    finally:
        for process, conn in started:
            process.join(join_s)
            if process.is_alive():
                process.terminate()
                process.join(5)
            conn.close()


def receive(conn: Any, expect: str, timeout: float, *, who: str = "a worker process") -> Any:
    """The value of the next ``(kind, value)`` a worker sends; raise unless it is ``expect``
    within ``timeout`` seconds."""
    if not conn.poll(timeout):
        raise TimeoutError(f"{who} did not say {expect!r} in {timeout:.0f}s")
    kind, value = conn.recv()
    if kind != expect:
        raise RuntimeError(f"{who} failed: {value}")
    return value


def split(total: int, parts: int) -> list[int]:
    """``total`` shared as evenly as can be among ``parts`` (at least one, at most ``total``)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
