"""What figures depend on: the machine and its load, the versions, the commit measured."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

import aiohttp
import psutil

from bench.deployment import ROOT, Stack
from dispatcher.demo import embedded


def conditions(stack: Stack | None = None, source: Path = ROOT) -> dict[str, str]:
    """What the figures depend on: the machine, its load, the versions, durability."""
    found = machine()
    found["python"] = platform.python_version()
    found["aiohttp"] = aiohttp.__version__
    bindir = embedded.find_postgres_bin()
    answer = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    found["postgresql"] = answer.stdout.strip() + " (fsync on, synchronous_commit on)"
    found["code"] = code_version(source)
    if stack is not None:
        found["server"] = f"one `dispatch serve` process, pid {stack.server.pid}"
    return found


def machine() -> dict[str, str]:
    """The machine: its cores and their model, its load average, how busy it is before the
    runs (this takes two seconds)."""
    model = "?"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    return {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": model,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "machine busy before": f"{other_load():.0f}% of {100 * (os.cpu_count() or 1)}% "
        "(2 s before the runs: other tenants)",
    }


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
    """One line a condition, its name in a column of its own."""
    for key, value in found.items():
        print(f"  {key:24} {value}")
