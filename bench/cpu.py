"""CPU time of the processes a benchmark involves, sampled, so that each figure has its cost."""

from __future__ import annotations

import contextlib
import threading
import time

import psutil


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
