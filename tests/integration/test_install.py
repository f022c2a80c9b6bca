"""The package installs: ``pip install .`` (not editable) into a fresh virtualenv, then
``dispatch migrate && dispatch serve`` from an empty folder, against the test run's PostgreSQL
and Redis.

Nothing of the source tree is on the path: the migrations and the console must come from the
installed package (its package data). The install takes the pinned versions of
requirements/constraints.txt and pip's cache; without the network and without the wheels in the
cache the build is impossible, and the test is skipped saying so. It installs no extra, so the
zone import's readers (``dispatch-centre[import]``) are absent and the command says which extra
to install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher import __version__
from dispatcher.demo.embedded import PostgresProcess, RedisProcess, free_port
from tests.integration.support import ADMIN

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
#: what the build reads of the tree (pyproject.toml's readme and licence files, the packages and
#: the two folders shipped as package data)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "NOTICE")
FOLDERS = ("dispatcher", "geo", "realtime", "migrations", "frontend")
#: pip's words when a package can be neither downloaded nor found in its cache
OFFLINE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Temporary failure in name resolution",
    "Failed to establish a new connection",
    "Network is unreachable",
)
INSTALL_TIMEOUT_S = 600

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT_S * 2 + 120)


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "install", "-q", *args],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if done.returncode:
        said = done.stdout + done.stderr
        offline = next((sign for sign in OFFLINE if sign in said), None)
        if offline:
            pytest.skip(
                f"cannot build offline: pip found no download and no cached wheel ({offline})"
            )
        raise AssertionError(said)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the project installed from a copy of the tree; its bin/."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy(ROOT / name, source)
    for name in FOLDERS:
        shutil.copytree(
            ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
    python = base / "venv" / "bin" / "python"
    pins = f"--constraint={CONSTRAINTS}"
    _pip(python, pins, "pip", "setuptools")  # as the Dockerfile: the pinned installer and backend
    _pip(python, pins, "--no-build-isolation", str(source))
    shutil.rmtree(source)  # nothing of the tree is left to lean on
    return python.parent


@pytest.fixture
def empty_database(pg_server: PostgresProcess) -> Iterator[str]:
    name = f"install_{os.getpid()}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


def _env(run: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPATCH_", "PYTHON"))}
    return {**env, "HOME": str(run), "DISPATCH_MEDIA_DIR": str(run / "media"), **settings}


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status, answer.read()


def test_pip_install_then_migrate_and_serve_from_an_empty_folder(
    installed: Path, empty_database: str, redis_server: RedisProcess, tmp_path: Path
) -> None:
    run = tmp_path / "empty"
    run.mkdir()
    env = _env(run, DISPATCH_DATABASE_URL=empty_database)
    where = subprocess.run(
        [str(installed / "python"), "-c", "import dispatcher; print(dispatcher.__file__)"],
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert Path(where.strip()).is_relative_to(installed.parent), where

    migrated = subprocess.run(
        [str(installed / "dispatch"), "migrate"],
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "0001_core" in migrated.stdout + migrated.stderr

    port = free_port()
    env |= {
        "DISPATCH_REDIS_URL": redis_server.url,
        "DISPATCH_PORT": str(port),
        "DISPATCH_ADMIN_TOKEN": ADMIN,
    }
    server = subprocess.Popen(
        [str(installed / "dispatch"), "serve"],
        cwd=run,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            with contextlib.suppress(OSError):
                if _get(f"{base}/readyz")[0] == 200:
                    break
            assert time.monotonic() < deadline, "dispatch serve was not ready within 60 s"
            time.sleep(0.1)
        status, health = _get(f"{base}/healthz")
        assert status == 200
        assert __version__.encode() in health
        status, page = _get(f"{base}/")
        assert status == 200
        assert b"<html" in page.lower()
        assert _get(f"{base}/static/js/api.js")[0] == 200  # the console, from the package
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        if server.stderr:
            server.stderr.close()


def test_the_zone_import_names_its_extra_when_it_is_not_installed(
    installed: Path, tmp_path: Path
) -> None:
    boundary = tmp_path / "zones.geojson"
    boundary.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    done = subprocess.run(
        [str(installed / "dispatch"), "zones", "import", str(boundary), "--dry-run"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'dispatch-centre[import]'" in done.stderr
    for heavy in ("geopandas", "pandas", "pyogrio"):
        found = subprocess.run(
            [str(installed / "python"), "-c", f"import {heavy}"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert found.returncode == 1, f"{heavy} is installed without the extra"
