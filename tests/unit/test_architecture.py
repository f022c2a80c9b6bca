"""The layers of docs/ARCHITECTURE.md, checked as a rule on folders by reading every import.

Each module of ``dispatcher`` belongs to the layer its folder names; a module directly in
``dispatcher/`` must be one of the composition root's. Arrows run inward only:
``web`` → ``store`` → ``core``; the root and the demo wire everything together.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NETWORK = frozenset({"aiohttp", "asyncpg", "redis"})
#: the composition root: the modules allowed directly in dispatcher/
ROOT_MODULES = frozenset({"__init__", "app", "cli", "settings", "setting_kinds"})
#: what each layer of dispatcher may import of dispatcher, realtime and the network libraries
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"dispatcher.core", "geo"}),
    "store": frozenset(
        {
            "dispatcher.core",
            "dispatcher.store",
            "dispatcher.settings",
            "geo",
            "realtime.hub",
            "asyncpg",
        }
    ),
    "web": frozenset(
        {
            "dispatcher.core",
            "dispatcher.store",
            "dispatcher.web",
            "dispatcher.settings",
            "geo",
            "realtime",
            "aiohttp",
            "asyncpg",
            "redis",
        }
    ),
    "demo": frozenset({"dispatcher", "geo", "realtime", "aiohttp", "asyncpg", "redis"}),
    "root": frozenset({"dispatcher", "geo", "realtime", "aiohttp", "asyncpg", "redis"}),
}
#: the root modules that must stay leaves (read by every layer): they import each other only
LEAVES = frozenset({"settings", "setting_kinds"})
WATCHED = ("dispatcher", "geo", "realtime", *NETWORK)


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from dispatcher.store import journal` imports dispatcher.store.journal
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(path: Path, package: Path) -> str | None:
    """The layer of a module of ``dispatcher``; None for a module where none may stand."""
    parts = path.relative_to(package).parts
    if len(parts) == 1:
        return "root" if path.stem in ROOT_MODULES else None
    return parts[0] if parts[0] in ALLOWED and parts[0] != "root" else None


def violations(root: Path) -> list[str]:
    """Every import that crosses the layers the wrong way, and every module outside them."""
    package = root / "dispatcher"
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(root)
        layer = layer_of(path, package)
        if layer is None:
            found.append(f"{where} is in no layer (core/, store/, web/, demo/ or the root)")
            continue
        allowed = ALLOWED[layer]
        if layer == "root" and path.stem in LEAVES:
            allowed = frozenset(f"dispatcher.{leaf}" for leaf in LEAVES)
        for name in sorted(imports(path)):
            if not name.startswith(WATCHED) or name.split(".")[0] not in WATCHED:
                continue
            if not any(_inside(name, prefix) for prefix in allowed):
                found.append(f"{where} ({layer}) imports {name}")
    for package_name in ("geo", "realtime"):
        for path in sorted((root / package_name).rglob("*.py")):
            used = {m.split(".")[0] for m in imports(path)}
            if "dispatcher" in used:
                found.append(f"{path.relative_to(root)} imports dispatcher")
            if package_name == "geo" and used & NETWORK:
                found.append(f"{path.relative_to(root)} imports {sorted(used & NETWORK)}")
    return found


def test_every_module_keeps_to_its_layer() -> None:
    assert violations(ROOT) == []


def test_the_core_has_modules_to_check() -> None:
    # a rule over an empty folder would pass for nothing
    assert len(list((ROOT / "dispatcher" / "core").glob("*.py"))) > 20


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("core/shortcut.py", "from dispatcher.store import records\n", "(core) imports"),
        ("core/shortcut.py", "import asyncpg\n", "(core) imports asyncpg"),
        ("core/shortcut.py", "from dispatcher import settings\n", "(core) imports"),
        ("store/shortcut.py", "from dispatcher.web import context\n", "(store) imports"),
        ("web/shortcut.py", "from dispatcher.demo import city\n", "(web) imports"),
        ("flat_module.py", "x = 1\n", "is in no layer"),
        ("extra/module.py", "x = 1\n", "is in no layer"),
    ],
)
def test_the_rule_catches_a_wrong_import(
    tmp_path: Path, module: str, line: str, expected: str
) -> None:
    """A test of the test: a copy of the tree with one throwaway module that breaks the rule."""
    for name in ("dispatcher", "geo", "realtime"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "data")
        )
    assert violations(tmp_path) == []
    target = tmp_path / "dispatcher" / module
    target.parent.mkdir(exist_ok=True)
    target.write_text(line, encoding="utf-8")
    found = violations(tmp_path)
    assert len(found) == 1
    assert expected in found[0]
