"""Installs are pinned, and the release says what it is.

requirements/constraints.txt pins every package pyproject.toml names, exactly and within the
ranges pyproject.toml allows; scripts/bootstrap.sh (the demo, the tests, CI) installs with it
and again whenever it changes (the Dockerfile's side is in test_deploy_files.py); the running
environment is the pinned one; ``dispatch --version`` prints the installed package's version,
pyproject.toml's; the licence, the notices of the vendored front-end code and the changelog
are there and agree with what they describe.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import dispatcher
from dispatcher import cli

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
VENDOR = ROOT / "frontend" / "vendor"
LICENSES = VENDOR / "LICENSES"


def pins() -> dict[str, Version]:
    """Each package of the constraints file and its one exact version."""
    found: dict[str, Version] = {}
    for raw in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1, f"{line!r}: not one exact version"
        assert specs[0].operator == "==", f"{line!r}: not an exact version"
        assert not req.extras, f"{line!r}: pip refuses extras in a constraints file"
        name = canonicalize_name(req.name)
        assert name not in found, f"{req.name} pinned twice"
        found[name] = Version(specs[0].version)
    return found


def named() -> list[Requirement]:
    """Every requirement pyproject.toml names: the build backend, the runtime dependencies and
    the import, embedded and test extras, the project's own reference to itself left out."""
    lines = [*PYPROJECT["build-system"]["requires"], *PROJECT["dependencies"]]
    for extra in ("import", "embedded", "test"):
        lines += PROJECT["optional-dependencies"][extra]
    own = canonicalize_name(PROJECT["name"])
    return [r for r in map(Requirement, lines) if canonicalize_name(r.name) != own]


def test_the_constraints_say_what_they_are_for() -> None:
    lines = CONSTRAINTS.read_text(encoding="utf-8").splitlines()
    header = " ".join(line for line in itertools.takewhile(lambda x: x.startswith("#"), lines))
    assert "3.11" in header
    assert "Linux x86_64" in header
    assert "scripts/upgrade.sh" in header


def test_every_package_pyproject_names_is_pinned_within_its_range() -> None:
    pinned = pins()
    for req in named():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in {CONSTRAINTS.name}"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{req.name}=={pinned[name]} is outside pyproject.toml's {req}"
        )
    # pip and setuptools too: bootstrap.sh and the Dockerfile install them first
    assert {"pip", "setuptools"} <= pinned.keys()


def test_the_extras_of_named_packages_are_pinned_too() -> None:
    pinned = pins()
    for req in named():
        for extra in req.extras:
            brought = [
                dep
                for dep in map(Requirement, metadata.requires(req.name) or [])
                if dep.marker is not None
                and dep.marker.evaluate({"extra": extra})
                and not dep.marker.evaluate({"extra": ""})
            ]
            assert brought, f"{req.name}[{extra}] brings nothing"
            for dep in brought:
                assert canonicalize_name(dep.name) in pinned, f"{dep.name} ({req}) is not pinned"


def test_this_environment_is_the_pinned_one() -> None:
    pinned = pins()
    for req in named():
        installed = Version(metadata.version(req.name))
        assert installed == pinned[canonicalize_name(req.name)], (
            f"{req.name} {installed} is installed, {pinned[canonicalize_name(req.name)]} pinned:"
            " run bash scripts/bootstrap.sh test"
        )


def test_the_build_backend_reads_an_spdx_licence() -> None:
    # `license = "MIT"` (PEP 639) is refused by setuptools before 77
    (backend,) = map(Requirement, PYPROJECT["build-system"]["requires"])
    assert backend.name == "setuptools"
    assert not backend.specifier.contains("76.9")
    assert backend.specifier.contains("77")
    assert PROJECT["license"] == "MIT"


# --- scripts/bootstrap.sh ------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of bootstrap.sh's world: pyproject.toml, the constraints, a frontend.sh that does
    nothing and a .venv whose python only writes down how it was called."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts")
    (tmp_path / "scripts" / "frontend.sh").write_text("exit 0\n", encoding="utf-8")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "requirements").mkdir()
    shutil.copy(CONSTRAINTS, tmp_path / "requirements")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/../calls"\n', encoding="utf-8")
    python.chmod(0o755)
    return tmp_path


def bootstrap(checkout: Path, extra: str) -> list[str]:
    """Runs bootstrap.sh for ``extra``; the pip commands it ran, each as one line."""
    calls = checkout / ".venv" / "calls"
    calls.unlink(missing_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(checkout)}
    subprocess.run(
        ["bash", "scripts/bootstrap.sh", extra], cwd=checkout, env=env, check=True, timeout=60
    )
    ran = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    return [line for line in ran if line.startswith("-m pip ")]


def test_bootstrap_installs_with_the_constraints_and_the_pinned_build(checkout: Path) -> None:
    first, project = bootstrap(checkout, "test")
    constraint = "--constraint requirements/constraints.txt"
    assert first.endswith(f"{constraint} pip setuptools")
    assert constraint in project
    assert project.endswith("--no-build-isolation --editable .[test]")
    assert bootstrap(checkout, "test") == [], "installed again with nothing changed"
    assert bootstrap(checkout, "embedded") == [], "the test extra includes the embedded one"


@pytest.mark.parametrize("changed", ["requirements/constraints.txt", "pyproject.toml"])
def test_bootstrap_installs_again_when_the_pins_change(checkout: Path, changed: str) -> None:
    bootstrap(checkout, "test")
    path = checkout / changed
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "\n", encoding="utf-8")
    assert len(bootstrap(checkout, "test")) == 2
    assert bootstrap(checkout, "test") == []
    path.write_text(original, encoding="utf-8")  # back to an earlier file: installs again too
    assert len(bootstrap(checkout, "test")) == 2


# --- the version ---------------------------------------------------------------------------------


def test_the_version_is_pyprojects_as_installed() -> None:
    assert dispatcher.__version__ == PROJECT["version"], (
        "the installed metadata is stale: run bash scripts/bootstrap.sh test"
    )
    assert dispatcher.__version__ == metadata.version(dispatcher.DISTRIBUTION)
    assert PROJECT["name"] == dispatcher.DISTRIBUTION


def test_dispatch_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert PROJECT["scripts"]["dispatch"] == "dispatcher.cli:main"
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"dispatch {PROJECT['version']}\n"


def test_the_changelog_has_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    heading = rf"^## \[{re.escape(PROJECT['version'])}\] - \d{{4}}-\d\d-\d\d$"
    assert re.search(heading, changelog, re.MULTILINE)
    assert "## [Unreleased]" in changelog


# --- licence and notices -------------------------------------------------------------------------


def test_the_licence_is_the_one_pyproject_names() -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 The dispatch-centre authors" in licence
    assert PROJECT["license-files"] == ["LICENSE", "NOTICE"]


def vendored() -> dict[str, str]:
    """The libraries frontend/vendor holds (its VERSIONS stamp) and their versions."""
    first = (VENDOR / "VERSIONS").read_text(encoding="utf-8").splitlines()[0]
    return dict(item.rsplit("@", 1) for item in first.split())


def index() -> dict[str, tuple[str, str, list[str]]]:
    """LICENSES/INDEX: each package's version, declared licence and the files copied from it."""
    rows: dict[str, tuple[str, str, list[str]]] = {}
    for line in (LICENSES / "INDEX").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        name, version, licence, files = line.split("\t")
        rows[name] = (version, licence, [] if files.startswith("(") else files.split(" "))
    return rows


def test_every_vendored_library_has_its_licence_and_notice_copied() -> None:
    rows = index()
    assert vendored() == {
        name: rows[name][0] for name in ("echarts", "maplibre-gl", "swagger-ui-dist")
    }
    for name, (_, _, files) in rows.items():
        for file in files:
            assert (LICENSES / file).is_file(), f"{name}: {file} is in INDEX, not in LICENSES/"
    assert "echarts/NOTICE" in rows["echarts"][2], "Apache-2.0 §4(d): ECharts' NOTICE goes along"
    # the ECharts bundle carries zrender and tslib, whose notices are in it
    assert {"zrender", "tslib"} <= rows.keys()


def test_notice_names_every_vendored_library_and_cites_files_that_exist() -> None:
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    rows = index()
    for name in ("echarts", "zrender", "tslib", "maplibre-gl", "swagger-ui-dist"):
        version, licence, _ = rows[name]
        assert f"{name} {version}" in notice, f"NOTICE does not name {name} {version}"
        assert licence in notice
    cited = re.findall(r"(?:frontend|dispatcher)/[\w./-]+\w", notice)
    assert cited
    for path in cited:
        assert (ROOT / path).exists(), f"NOTICE cites {path}, which is not there"
    # ECharts' own NOTICE is reproduced word for word (Apache-2.0 §4(d))
    echarts_notice = (LICENSES / "echarts" / "NOTICE").read_text(encoding="utf-8").strip()
    assert echarts_notice in notice


# --- what the wheel carries ----------------------------------------------------------------------


def test_every_package_of_the_tree_is_named_and_the_data_folders_ship_inside_it() -> None:
    # pyproject.toml names its packages (no find): a package added to the tree must be named
    setuptools = PYPROJECT["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("dispatcher", "geo", "realtime")
        for init in (ROOT / top).rglob("__init__.py")
    }
    shipped = {"dispatcher.migrations": "migrations", "dispatcher.frontend": "frontend"}
    assert set(setuptools["packages"]) == found | shipped.keys()
    assert setuptools["package-dir"] == shipped
    data = setuptools["package-data"]
    assert data["dispatcher.migrations"] == ["*.sql"]
    assert data["dispatcher.frontend"] == ["**/*"]
    # the installed test of tests/integration/test_install.py runs `pip install .` for real


def test_the_zone_import_readers_are_an_extra_that_the_test_run_and_the_demo_include() -> None:
    heavy = {"geopandas", "pyogrio", "pandas"}
    runtime = {canonicalize_name(Requirement(line).name) for line in PROJECT["dependencies"]}
    assert not heavy & runtime, "a server install would carry the zone import's readers"
    extras = PROJECT["optional-dependencies"]
    assert {canonicalize_name(Requirement(x).name) for x in extras["import"]} == heavy - {"pandas"}
    assert f"{PROJECT['name']}[import]" in extras["embedded"]
    assert f"{PROJECT['name']}[embedded]" in extras["test"]
    assert set(cli.IMPORT_EXTRA_MODULES) == heavy
    assert "pip install 'dispatch-centre[import]'" in cli.IMPORT_EXTRA_HINT


def test_the_zone_import_names_the_extra_when_its_readers_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "geo.importer", raising=False)
    monkeypatch.setitem(sys.modules, "geopandas", None)  # as if not installed
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    boundary = tmp_path / "zones.geojson"
    boundary.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    assert cli.main(["zones", "import", str(boundary), "--dry-run"]) == 2
    assert "geopandas is not installed" in capsys.readouterr().err
    assert "dispatch-centre[import]" in cli.IMPORT_EXTRA_HINT
