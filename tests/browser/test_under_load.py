"""A test of the browser tests: they wait on state, never on time, so they pass with every CPU
of the machine busy.

It starts one CPU hog per core (each stops by itself after :data:`HOG_S` seconds, and is
killed at the end in any case) and runs two of the page tests (sign-in and the supervision
queue: a form, a session, a WebSocket, live updates) in a pytest of their own, with their own
PostgreSQL and Redis, then checks that they passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.browser.conftest import chromium_path

ROOT: Final = Path(__file__).resolve().parents[2]
#: how long a hog burns at most (it outlives the inner run only if that run hangs)
HOG_S: Final = 300
#: the page tests run under load
UNDER_LOAD: Final = ("tests/browser/test_sign_in.py", "tests/browser/test_supervision_pages.py")
#: set in the inner run, so that it does not start this test again
INNER: Final = "DISPATCH_UNDER_LOAD"
HOG: Final = (
    "import time\n"
    f"end = time.monotonic() + {HOG_S}\n"
    "while time.monotonic() < end:\n"
    "    sum(range(10_000))\n"
)


@pytest.mark.skipif(
    os.environ.get("DISPATCH_NO_BROWSER") == "1" or chromium_path() is None,
    reason="browser tests are switched off or there is no Chromium",
)
@pytest.mark.skipif(os.environ.get(INNER) == "1", reason="already the run under load")
def test_page_tests_pass_with_every_cpu_busy() -> None:
    cores = os.cpu_count() or 2
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(cores)]
    try:
        assert all(h.poll() is None for h in hogs), "the hogs did not start"
        env = {**os.environ, INNER: "1"}
        inner = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *UNDER_LOAD],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=HOG_S,
        )
        # the hogs were still burning when the run ended: it really ran under load
        assert all(h.poll() is None for h in hogs), "a hog stopped before the run ended"
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
    summary = inner.stdout.strip().splitlines()[-1] if inner.stdout.strip() else ""
    assert inner.returncode == 0, inner.stdout[-4000:] + inner.stderr[-2000:]
    assert " passed" in summary
    assert "skipped" not in summary, summary
