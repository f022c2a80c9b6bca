"""The layering of docs/ARCHITECTURE.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_CORE = [
    "incidents",
    "intake",
    "lifecycle",
    "deadlines",
    "clocks",
    "routing",
    "units",
    "dedup",
    "repeats",
    "collation",
    "cap",
    "alerts",
    "open311",
    "visits",
    "batch",
    "stats",
    "periods",
    "sampling",
    "categories",
    "events",
    "auth",
    "audit",
    "errors",
    "validation",
    "ids",
    "jsontext",
]
NETWORK = {"aiohttp", "asyncpg", "redis"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module in ("dispatcher", "geo", "realtime"):  # from dispatcher import store
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("name", PURE_CORE)
def test_the_core_imports_no_network_or_database(name: str) -> None:
    used = {m.split(".")[0] for m in imports(ROOT / "dispatcher" / f"{name}.py")}
    assert not used & NETWORK, f"dispatcher/{name}.py imports {used & NETWORK}"
    adapters = {
        m for m in imports(ROOT / "dispatcher" / f"{name}.py") if m.startswith("dispatcher.")
    } - {f"dispatcher.{n}" for n in PURE_CORE}
    assert not adapters, f"dispatcher/{name}.py imports adapters {adapters}"


@pytest.mark.parametrize("package", ["geo", "realtime"])
def test_geo_and_realtime_do_not_import_the_dispatcher(package: str) -> None:
    for path in (ROOT / package).glob("*.py"):
        used = {m.split(".")[0] for m in imports(path)}
        assert "dispatcher" not in used, f"{path.name} imports dispatcher"
        if package == "geo":
            assert not used & NETWORK, f"geo/{path.name} imports {used & NETWORK}"
