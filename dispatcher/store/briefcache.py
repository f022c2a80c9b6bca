"""A per-process cache of answers read from the database, each kept a few seconds.

The token book and the session book look every request's caller up here first: a lookup is
answered from memory for ``ttl_s`` seconds, so a busy page costs one query per few seconds, and
a revocation or a disabled person is dropped at once through :meth:`BriefCache.drop_where`
(every process hears of it through a control message; the short life bounds staleness even if
that message is lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class _Kept(Generic[V]):
    value: V
    until: float


class BriefCache(Generic[K, V]):
    def __init__(self, ttl_s: float, limit: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._limit = limit
        self._kept: dict[K, _Kept[V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        """(found and fresh, the value)."""
        kept = self._kept.get(key)
        if kept is None or kept.until < time.monotonic():
            return False, None
        return True, kept.value

    def put(self, key: K, value: V) -> None:
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[key] = _Kept(value, time.monotonic() + self._ttl_s)

    def drop_where(self, doomed: Callable[[V], bool]) -> None:
        """Forget every value for which ``doomed`` is true."""
        for key, kept in list(self._kept.items()):
            if doomed(kept.value):
                del self._kept[key]
